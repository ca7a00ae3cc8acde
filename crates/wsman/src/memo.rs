//! A parse memo for a reader that is sent the same request again and again.
//!
//! Clients poll. A fleet manager reads the same instance every few seconds, pywinrm
//! asks for a command's output until it ends, a monitor enumerates the same sensors:
//! each request is byte for byte the one before, but for its `wsa:MessageID`, which
//! every client makes fresh (`uuid:` and 36 hexadecimal digits and dashes, always the
//! same length). [`ParseMemo::parse`] gives exactly what [`crate::parse`] gives. For a
//! text it has seen before in that sense it copies the envelope it kept, with the new
//! MessageID, instead of reading the text again.
//!
//! Why that is exact: a text equal to a kept one outside the MessageID's content, whose
//! new content has the same length and only plain characters (letters, digits and
//! `-:._`, nothing the XML reader treats specially and nothing it trims), reads as the
//! same events in the same places but for that one text node. Every value the reader
//! derives, offsets included, is therefore the kept one, and the MessageID is the new
//! text. Only envelopes read without an error are kept; a text longer than
//! [`MAX_TEXT`], a MessageID written with an entity or with spaces around it, or a
//! body the memo does not keep (see `owned`) is read every time.
//!
//! A text is kept only when it comes a second time, so a reader sent requests that
//! never repeat pays one comparison and one copy of the text per request, not a copy
//! of every envelope.

use std::borrow::Cow;
use std::ops::Range;

use crate::body::{
    AssociationFilter, Body, Enumerate, EnumerationContextBody, EnumerationMode, Expiry, Filter,
    FilterContent, Pull, Receive, Signal,
};
use crate::envelope::{FragmentTransfer, Header, OtherHeader};
use crate::{Envelope, Epr, Error, Limits, OptionItem, Selector, Tree};

/// Texts longer than this are read every time (a repeated request is small; a large
/// one is a Put or a Send, whose content changes).
pub const MAX_TEXT: usize = 16 * 1024;

/// How many distinct texts the memo keeps: a client alternating between a few
/// requests (a Get and an Enumerate, a Receive and a Signal) still finds each.
const SLOTS: usize = 4;

/// Remembers the last few texts read and the envelopes of those seen twice (see the
/// module's documentation). Not shared: a server keeps one per thread or connection.
#[derive(Debug, Default)]
pub struct ParseMemo {
    entries: Vec<Entry>,
    /// The slot the next new text replaces, once all are taken.
    next: usize,
    /// Envelopes given from the memo.
    hits: u64,
}

#[derive(Debug)]
struct Entry {
    text: String,
    limits: Limits,
    /// The byte range of the MessageID's content in `text`, when it has one.
    hole: Option<(usize, usize)>,
    /// The envelope, once the text came a second time; its MessageID is `None` (each
    /// copy gets its own).
    env: Option<Envelope<'static>>,
}

impl ParseMemo {
    /// An empty memo.
    pub fn new() -> ParseMemo {
        ParseMemo::default()
    }

    /// How many envelopes this memo gave without reading their text.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// [`crate::parse`] of `text`, from the memo when `text` repeats one it kept.
    pub fn parse<'t>(&mut self, text: &'t str, limits: &Limits) -> Result<Envelope<'t>, Error> {
        if text.len() > MAX_TEXT {
            return crate::parse(text, limits);
        }
        let Some(i) = self.entries.iter().position(|e| e.matches(text, limits)) else {
            let parsed = crate::parse(text, limits);
            if let Ok(env) = &parsed
                && let Some(hole) = hole_of(text, env)
            {
                self.remember(text, limits, hole);
            }
            return parsed;
        };
        let entry = &mut self.entries[i];
        if let Some(kept) = &entry.env {
            let mut env = kept.clone();
            if let Some((start, end)) = entry.hole {
                // `matches` checked the range holds plain characters, so it is on
                // character boundaries.
                env.header.message_id = text.get(start..end).map(Cow::Borrowed);
            }
            self.hits += 1;
            return Ok(env);
        }
        // The second time: read it, and keep the envelope if the memo can.
        let parsed = crate::parse(text, limits);
        if let Ok(env) = &parsed
            && hole_of(text, env) == Some(entry.hole)
        {
            entry.env = owned(env);
        }
        parsed
    }

    fn remember(&mut self, text: &str, limits: &Limits, hole: Option<(usize, usize)>) {
        if self.entries.len() < SLOTS {
            self.entries.push(Entry {
                text: text.to_owned(),
                limits: *limits,
                hole,
                env: None,
            });
            return;
        }
        let entry = &mut self.entries[self.next];
        self.next = (self.next + 1) % SLOTS;
        // The slot's buffer is reused: no allocation once it is large enough.
        entry.text.clear();
        entry.text.push_str(text);
        entry.limits = *limits;
        entry.hole = hole;
        entry.env = None;
    }
}

impl Entry {
    /// `text` equals this entry's outside its hole, the hole holds plain characters,
    /// and the limits are the same.
    fn matches(&self, text: &str, limits: &Limits) -> bool {
        let (a, b) = (text.as_bytes(), self.text.as_bytes());
        if a.len() != b.len() || self.limits != *limits {
            return false;
        }
        match self.hole {
            None => a == b,
            Some((start, end)) => {
                a[..start] == b[..start] && a[end..] == b[end..] && plain(&a[start..end])
            }
        }
    }
}

/// Characters a MessageID may hold for the memo to take it: what clients write in
/// one (`uuid:` and a UUID, a URN), none of which XML treats specially or trims.
fn plain(id: &[u8]) -> bool {
    !id.is_empty()
        && id
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b':' | b'.' | b'_'))
}

/// Where `env`'s MessageID lies in `text`, the text it was read from: the byte range
/// of its content, when the reader borrowed it from `text` (written without a
/// character reference); `None` when `env` has no MessageID or its value is not a
/// piece of `text`. A load generator or a test uses it to send a request again with
/// another MessageID, as a polling client does.
pub fn message_id_range(text: &str, env: &Envelope<'_>) -> Option<Range<usize>> {
    let Some(Cow::Borrowed(id)) = &env.header.message_id else {
        return None;
    };
    let start = (id.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(id.len())?;
    // Only a range of `text` that holds the MessageID's bytes is given (a value
    // borrowed from another text lies outside this one or reads differently there).
    (text.get(start..end) == Some(*id)).then_some(start..end)
}

/// Whether the memo can keep `env`, read from `text`: `None` when it cannot, else the
/// MessageID's range (`Some(None)` when it has none). The MessageID must be borrowed
/// from `text` as the whole content of its element, in plain characters.
fn hole_of(text: &str, env: &Envelope<'_>) -> Option<Option<(usize, usize)>> {
    if env.header.message_id.is_none() {
        return Some(None);
    }
    let Range { start, end } = message_id_range(text, env)?;
    let bytes = text.as_bytes();
    // The whole content of its element: its start tag's `>` before, a `<` after.
    let around = (
        start.checked_sub(1).and_then(|i| bytes.get(i)),
        bytes.get(end),
    );
    (around == (Some(&b'>'), Some(&b'<')) && plain(&bytes[start..end]))
        .then_some(Some((start, end)))
}

fn own(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

fn own_opt(s: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
    s.map(own)
}

/// `env` owning its strings, without its MessageID, when its body is one a client
/// repeats (none, Identify, Enumerate, Pull, Release, Renew and GetStatus of an
/// enumeration or a subscription, Unsubscribe, a shell's Receive or Signal) and it has
/// no further body elements; `None` for the rest (a resource, a fragment, a command
/// line, a shell, input, a subscription, a method's input), which the memo does not
/// keep.
fn owned(env: &Envelope<'_>) -> Option<Envelope<'static>> {
    if !env.extra.is_empty() {
        return None;
    }
    // Matched by reference, so that a body the memo does not keep (a resource, often
    // large) is not copied only to be dropped.
    let body = match &env.body {
        Body::Empty => Body::Empty,
        Body::Identify => Body::Identify,
        Body::GetStatus => Body::GetStatus,
        Body::Unsubscribe => Body::Unsubscribe,
        Body::Enumerate(e) => Body::Enumerate(Box::new(enumerate_owned((**e).clone()))),
        Body::Pull(p) => Body::Pull(Pull {
            context: own(p.context.clone()),
            max_time: p.max_time,
            max_elements: p.max_elements,
            max_characters: p.max_characters,
        }),
        Body::Release(c) => Body::Release(context_owned(c.clone())),
        Body::EnumerationRenew(c) => Body::EnumerationRenew(context_owned(c.clone())),
        Body::EnumerationGetStatus(c) => Body::EnumerationGetStatus(context_owned(c.clone())),
        Body::Renew(e) => Body::Renew(Expiry {
            expires: own_opt(e.expires.clone()),
        }),
        Body::Receive(r) => Body::Receive(Receive {
            desired_streams: own(r.desired_streams.clone()),
            command_id: own_opt(r.command_id.clone()),
        }),
        Body::Signal(sig) => Body::Signal(Signal {
            command_id: own_opt(sig.command_id.clone()),
            code: own(sig.code.clone()),
        }),
        _ => return None,
    };
    let mut header = header_owned(env.header.clone());
    header.message_id = None;
    Some(Envelope {
        header,
        body,
        extra: Vec::new(),
        meta: env.meta.clone(),
    })
}

fn context_owned(c: EnumerationContextBody<'_>) -> EnumerationContextBody<'static> {
    EnumerationContextBody {
        context: own_opt(c.context),
        expires: own_opt(c.expires),
    }
}

fn header_owned(h: Header<'_>) -> Header<'static> {
    // Destructured whole, so that a header added to `Header` cannot be forgotten here.
    let Header {
        to,
        action,
        message_id,
        reply_to,
        fault_to,
        from,
        relates_to,
        resource_uri,
        selectors,
        options,
        max_envelope_size,
        operation_timeout,
        locale,
        data_locale,
        fragment_transfer,
        request_total_items_count_estimate,
        total_items_count_estimate,
        not_understood,
        other,
    } = h;
    Header {
        to: own_opt(to),
        action: own_opt(action),
        message_id: own_opt(message_id),
        reply_to: reply_to.map(Epr::into_owned),
        fault_to: fault_to.map(Epr::into_owned),
        from: from.map(Epr::into_owned),
        relates_to: own_opt(relates_to),
        resource_uri: own_opt(resource_uri),
        selectors: selectors.into_iter().map(Selector::into_owned).collect(),
        options: options
            .into_iter()
            .map(|o| OptionItem {
                name: own(o.name),
                type_: own_opt(o.type_),
                must_comply: o.must_comply,
                value: own(o.value),
            })
            .collect(),
        max_envelope_size,
        operation_timeout,
        locale: own_opt(locale),
        data_locale: own_opt(data_locale),
        fragment_transfer: fragment_transfer.map(|f| FragmentTransfer {
            expression: own(f.expression),
            dialect: own_opt(f.dialect),
        }),
        request_total_items_count_estimate,
        total_items_count_estimate,
        not_understood: not_understood.map(|n| n.into_owned()),
        other: other
            .into_iter()
            .map(|o| OtherHeader {
                must_understand: o.must_understand,
                element: o.element.into_owned(),
            })
            .collect(),
    }
}

fn enumerate_owned(e: Enumerate<'_>) -> Enumerate<'static> {
    let Enumerate {
        expires,
        filter,
        optimize,
        max_elements,
        mode,
        other,
    } = e;
    Enumerate {
        expires: own_opt(expires),
        filter: filter.map(|f| Filter {
            dialect: own_opt(f.dialect),
            content: match f.content {
                FilterContent::Text(t) => FilterContent::Text(own(t)),
                FilterContent::Selectors(s) => {
                    FilterContent::Selectors(s.into_iter().map(Selector::into_owned).collect())
                }
                FilterContent::Association(a) => FilterContent::Association(AssociationFilter {
                    association_instances: a.association_instances,
                    object: a.object.into_owned(),
                    association_class_name: own_opt(a.association_class_name),
                    role: own_opt(a.role),
                    result_class_name: own_opt(a.result_class_name),
                    result_role: own_opt(a.result_role),
                    include_result_property: a
                        .include_result_property
                        .into_iter()
                        .map(own)
                        .collect(),
                }),
                FilterContent::Xml(trees) => {
                    FilterContent::Xml(trees.into_iter().map(Tree::into_owned).collect())
                }
            },
        }),
        optimize,
        max_elements,
        mode: mode.map(|m| match m {
            EnumerationMode::Epr => EnumerationMode::Epr,
            EnumerationMode::ObjectAndEpr => EnumerationMode::ObjectAndEpr,
            EnumerationMode::Other(s) => EnumerationMode::Other(own(s)),
        }),
        other: other.into_iter().map(Tree::into_owned).collect(),
    }
}
