//! Streaming JSON input: a top-level `List`'s items are parsed and sent one by one, so that the output of
//! `kubectl get -o json` is never held whole.

use super::stream::{Batcher, Origin, ReadResult, Unit};
use crate::manifest::input::open_regular;
use crate::manifest::LoadError;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt;
use std::io::{BufReader, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// Counts the newlines read through it, so JSON `List` items can say which line they start on.
struct LineCounting<R> {
    inner: R,
    newlines: Rc<Cell<usize>>,
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        let newlines = buf[..read].iter().filter(|&&b| b == b'\n').count();
        self.newlines.set(self.newlines.get() + newlines);
        Ok(read)
    }
}

pub(super) fn read_json(file_index: usize, file: &Path, batcher: &mut Batcher<'_>) -> ReadResult {
    let position = (file_index, 1, 0);
    let (opened, _) = open_regular(file, "objects file").map_err(|e| Box::new((position, LoadError::from(e))))?;
    let newlines = Rc::new(Cell::new(0));
    let reader = LineCounting { inner: BufReader::with_capacity(1 << 16, opened), newlines: newlines.clone() };
    let origin = Origin { file_index, file: Arc::from(file), document: 1, line: 1, item: None, column_shift: 0 };
    let json_error = |error: serde_json::Error| {
        let message = error.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        let error = LoadError::Syntax {
            file: file.to_owned(),
            document: 1,
            line: error.line(),
            column: error.column(),
            message,
        };
        Box::new((position, error))
    };
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    TopLevel { origin, batcher, newlines }.deserialize(&mut deserializer).map_err(json_error)?;
    deserializer.end().map_err(json_error)
}

/// The top-level JSON value: a `List`'s items are streamed one by one, anything else is sent whole.
struct TopLevel<'b, 'a> {
    origin: Origin,
    batcher: &'b mut Batcher<'a>,
    newlines: Rc<Cell<usize>>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object or List")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    // Anything but a mapping is sent whole, for the worker to skip as a document that is not an object.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let value = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        self.whole(value)
    }

    fn visit_bool<E>(self, value: bool) -> Result<(), E> {
        self.whole(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<(), E> {
        self.whole(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<(), E> {
        self.whole(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<(), E> {
        self.whole(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<(), E> {
        self.whole(Value::from(value))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut fields = Map::new();
        let mut streamed = false;
        while let Some(key) = map.next_key::<String>()? {
            let list_like = fields.get("apiVersion").and_then(Value::as_str) == Some("v1")
                || fields.get("kind").and_then(Value::as_str).is_some_and(|kind| kind.ends_with("List"));
            if key == "items" && list_like {
                let items = Items { origin: &self.origin, batcher: &mut *self.batcher, newlines: &self.newlines };
                map.next_value_seed(items)?;
                streamed = true;
            } else {
                fields.insert(key, map.next_value()?);
            }
        }
        if !streamed {
            self.batcher.push(Unit::Parsed { value: Value::Object(fields), origin: self.origin });
        }
        Ok(())
    }
}

impl TopLevel<'_, '_> {
    fn whole<E>(self, value: Value) -> Result<(), E> {
        self.batcher.push(Unit::Parsed { value, origin: self.origin });
        Ok(())
    }
}

/// A streamed `items` array: each item is sent as soon as it is parsed.
struct Items<'s, 'a> {
    origin: &'s Origin,
    batcher: &'s mut Batcher<'a>,
    newlines: &'s Rc<Cell<usize>>,
}

impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of objects")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some((value, line)) = seq.next_element_seed(Item { newlines: self.newlines })? {
            let origin = Origin { item: Some(index), line, ..self.origin.clone() };
            self.batcher.push(Unit::Parsed { value, origin });
            if self.batcher.aborted() {
                return Err(serde::de::Error::custom("stopped after an earlier error"));
            }
            index += 1;
        }
        Ok(())
    }
}

/// One item, with the line its value starts on (the line of its opening brace).
struct Item<'s> {
    newlines: &'s Rc<Cell<usize>>,
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = (Value, usize);

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(Value, usize), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = (Value, usize);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(Value, usize), A::Error> {
        // The opening brace was just read, so the lines counted so far end on its line.
        let line = self.newlines.get() + 1;
        let value = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok((value, line))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(Value, usize), A::Error> {
        let line = self.newlines.get() + 1;
        Ok((Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?, line))
    }

    fn visit_unit<E>(self) -> Result<(Value, usize), E> {
        Ok((Value::Null, self.newlines.get() + 1))
    }

    fn visit_bool<E>(self, value: bool) -> Result<(Value, usize), E> {
        Ok((Value::Bool(value), self.newlines.get() + 1))
    }

    fn visit_i64<E>(self, value: i64) -> Result<(Value, usize), E> {
        Ok((Value::from(value), self.newlines.get() + 1))
    }

    fn visit_u64<E>(self, value: u64) -> Result<(Value, usize), E> {
        Ok((Value::from(value), self.newlines.get() + 1))
    }

    fn visit_f64<E>(self, value: f64) -> Result<(Value, usize), E> {
        Ok((Value::from(value), self.newlines.get() + 1))
    }

    fn visit_str<E>(self, value: &str) -> Result<(Value, usize), E> {
        Ok((Value::from(value), self.newlines.get() + 1))
    }
}
