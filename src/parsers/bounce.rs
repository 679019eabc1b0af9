//! bounce lines. (Stub: to be written.)

use crate::event::Event;

pub fn parse(_message: &str) -> Option<Event<'_>> {
    None
}
