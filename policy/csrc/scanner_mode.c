/*
 * libpg_query's scanner reads `standard_conforming_strings` from a thread-local the parse
 * entry point sets from its options and then resets to true; the scan entry point takes no
 * options. This sets it around a scan on the calling thread. Returns the previous value.
 */
#include <stdbool.h>

extern __thread bool standard_conforming_strings;

bool pgward_set_standard_conforming_strings(bool on)
{
	bool previous = standard_conforming_strings;

	standard_conforming_strings = on;
	return previous;
}
