//! A server message as a masked role's client must see it: each reply is masked by the plan
//! of the statement it answers (`masking.rs` keeps the plans).

use super::*;
use crate::protocol::Frame;

impl Session {
    /// Masking for a masked role's results: the frame as the client must see it.
    pub(super) fn mask_frame(
        &mut self,
        frame: Frame,
        answered: Option<&replies::Expected>,
    ) -> Frame {
        let owner = match answered {
            Some(e) => e.mask.as_ref(),
            None => self.replies.front().and_then(|e| e.mask.as_ref()),
        };
        let tag = frame.tag();
        let replaced = match (tag, owner) {
            (b'Z', _) => {
                self.masking.on_ready();
                None
            }
            (b'T', Some(o)) => {
                let masked = self.masking.on_row_description(frame.body(), o);
                if masked > 0 {
                    self.shared.metrics.masked_columns(masked as u64);
                }
                None
            }
            (b'n', Some(o)) => {
                self.masking.on_no_data(o);
                None
            }
            (b'D', Some(o)) => self.masking.mask_row(frame.body(), o),
            (b'H', Some(o)) => {
                self.masking.on_copy_out(o);
                None
            }
            (b'd', Some(_)) => self.masking.mask_copy(frame.body()),
            (b'E' | b'N', Some(o)) => {
                let scrubbed = self.masking.scrub(frame.body(), o);
                if tag == b'E' {
                    self.masking.on_error();
                }
                scrubbed
            }
            (b'C' | b'I' | b's', o) => {
                self.masking.on_complete(o, tag == b's');
                None
            }
            _ => None,
        };
        match replaced {
            Some(body) => {
                let mut out = BytesMut::new();
                backend::raw_message(tag, &body, &mut out);
                Frame::from_raw(out.freeze())
            }
            None => frame,
        }
    }
}
