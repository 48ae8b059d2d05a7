//! A command-line client for any stdrpc server, as `grpcurl` is for gRPC:
//! list the methods with their signatures, and call one with arguments
//! written as JSON-like literals, converted by the method's signature.
//!
//! ```text
//! cargo run --example kv_store -- server &
//! cargo run --example rpc -- --addr 127.0.0.1:4343 --authkey password list
//! cargo run --example rpc -- --addr 127.0.0.1:4343 --authkey password call Kv.put '"a"' 10
//! cargo run --example rpc -- --addr 127.0.0.1:4343 --authkey password call Kv.get '"a"'
//! ```
//!
//! Literals: numbers, `true`/`false`, `"strings"` (also for `char`), `null`
//! for `None` (anything else is `Some`), `[a, b]` for sequences, arrays,
//! sets and tuples, `{k: v}` for maps, `{"Ok": v}` / `{"Err": e}` for
//! `Result`, seconds for `Duration`. The result prints the same way. Types
//! of your own (`message!` structs) show by name only in the signatures and
//! are not supported here.
//!
//! The arguments travel untyped (`Client::call_raw`): the signature read
//! from the server guides the encoding, so the server checks nothing more.

use std::process::ExitCode;

const USAGE: &str = "usage: rpc [--addr HOST:PORT] [--authkey KEY] COMMAND
  list                       print the server's methods and their signatures
  call METHOD [ARG ...]      call METHOD, one JSON-like literal per argument
  --addr HOST:PORT           default 127.0.0.1:4343
  --authkey KEY              default 'password'";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let mut addr = "127.0.0.1:4343".to_string();
    let mut key = "password".to_string();
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--addr" | "--authkey" => {
                let Some(v) = it.next() else {
                    eprintln!("error: {a} needs a value\n{USAGE}");
                    return ExitCode::from(2);
                };
                if a == "--addr" { addr = v } else { key = v }
            }
            _ => rest.push(a),
        }
    }
    match run(&addr, key.as_bytes(), &rest) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("error: {e}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Other(String),
}

impl From<stdrpc::Error> for Failure {
    fn from(e: stdrpc::Error) -> Failure {
        Failure::Other(e.to_string())
    }
}

fn run(addr: &str, key: &[u8], rest: &[String]) -> Result<(), Failure> {
    let (command, args) = rest
        .split_first()
        .ok_or_else(|| Failure::Usage("no command".into()))?;
    match command.as_str() {
        "list" if args.is_empty() => {
            let client = stdrpc::Client::connect(addr, key)?;
            for (name, sig) in client.methods()? {
                println!("{name} {sig}");
            }
            Ok(())
        }
        "call" if !args.is_empty() => {
            let client = stdrpc::Client::connect(addr, key)?;
            let method = &args[0];
            let methods = client.methods()?;
            let sig = methods
                .iter()
                .find(|(n, _)| n == method)
                .map(|(_, s)| s.clone())
                .ok_or_else(|| Failure::Other(format!("no method named {method:?}")))?;
            let (params, result) = sig
                .split_once(" -> ")
                .ok_or_else(|| Failure::Other(format!("unreadable signature {sig:?}")))?;
            let Ty::Tuple(params) = parse_type(params).map_err(Failure::Other)? else {
                return Err(Failure::Other(format!("unreadable signature {sig:?}")));
            };
            let result = parse_type(result).map_err(Failure::Other)?;
            let literals = &args[1..];
            if literals.len() != params.len() {
                return Err(Failure::Usage(format!(
                    "{method} {sig} takes {} arguments, {} given",
                    params.len(),
                    literals.len()
                )));
            }
            let mut bytes = Vec::new();
            for (ty, text) in params.iter().zip(literals) {
                let value = parse_value(text).map_err(Failure::Usage)?;
                encode(ty, &value, &mut bytes).map_err(Failure::Usage)?;
            }
            let reply = client.call_raw(method, &bytes)?;
            let mut input = &reply[..];
            let text = decode(&result, &mut input).map_err(Failure::Other)?;
            println!("{text}");
            Ok(())
        }
        _ => Err(Failure::Usage(format!(
            "bad command line: {}",
            rest.join(" ")
        ))),
    }
}

// ---- types, from the signature text ----------------------------------------

#[derive(Debug)]
enum Ty {
    Unsigned(u32),
    Signed(u32),
    F32,
    F64,
    Bool,
    Char,
    Str,
    Seq(Box<Ty>),
    Array(Box<Ty>, usize),
    Map(Box<Ty>, Box<Ty>),
    Option(Box<Ty>),
    Result(Box<Ty>, Box<Ty>),
    Tuple(Vec<Ty>),
    Duration,
}

fn parse_type(text: &str) -> Result<Ty, String> {
    let mut p = TypeParser {
        s: text.trim(),
        at: 0,
    };
    let ty = p.ty()?;
    p.ws();
    if p.at != p.s.len() {
        return Err(format!("unreadable type {text:?}"));
    }
    Ok(ty)
}

struct TypeParser<'a> {
    s: &'a str,
    at: usize,
}

impl TypeParser<'_> {
    fn ws(&mut self) {
        while self.s[self.at..].starts_with(' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.ws();
        if self.s[self.at..].starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {c:?} in type {:?}", self.s))
        }
    }

    fn ty(&mut self) -> Result<Ty, String> {
        self.ws();
        while self.eat('&') {}
        if self.eat('(') {
            let mut fields = Vec::new();
            while !self.eat(')') {
                fields.push(self.ty()?);
                if !self.eat(',') {
                    self.expect(')')?;
                    break;
                }
            }
            return Ok(Ty::Tuple(fields));
        }
        if self.eat('[') {
            let elem = self.ty()?;
            if self.eat(';') {
                self.ws();
                let start = self.at;
                while self.s[self.at..].starts_with(|c: char| c.is_ascii_digit()) {
                    self.at += 1;
                }
                let n = self.s[start..self.at]
                    .parse()
                    .map_err(|_| "bad array length".to_string())?;
                self.expect(']')?;
                return Ok(Ty::Array(Box::new(elem), n));
            }
            self.expect(']')?;
            return Ok(Ty::Seq(Box::new(elem)));
        }
        let start = self.at;
        while self.s[self.at..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            self.at += 1;
        }
        let name = &self.s[start..self.at];
        let mut params = Vec::new();
        if self.eat('<') {
            loop {
                params.push(self.ty()?);
                if !self.eat(',') {
                    break;
                }
            }
            self.expect('>')?;
        }
        let mut params = params.into_iter().map(Box::new);
        let mut next = || {
            params
                .next()
                .ok_or_else(|| format!("{name} needs a parameter"))
        };
        Ok(match name {
            "u8" => Ty::Unsigned(8),
            "u16" => Ty::Unsigned(16),
            "u32" => Ty::Unsigned(32),
            "u64" | "usize" => Ty::Unsigned(64),
            "u128" => Ty::Unsigned(128),
            "i8" => Ty::Signed(8),
            "i16" => Ty::Signed(16),
            "i32" => Ty::Signed(32),
            "i64" | "isize" => Ty::Signed(64),
            "i128" => Ty::Signed(128),
            "f32" => Ty::F32,
            "f64" => Ty::F64,
            "bool" => Ty::Bool,
            "char" => Ty::Char,
            "String" | "str" => Ty::Str,
            "Duration" => Ty::Duration,
            "Vec" | "VecDeque" | "HashSet" | "BTreeSet" => Ty::Seq(next()?),
            "HashMap" | "BTreeMap" => Ty::Map(next()?, next()?),
            "Option" => Ty::Option(next()?),
            "Result" => Ty::Result(next()?, next()?),
            "Box" | "Arc" | "Rc" | "Cow" => *next()?,
            other => return Err(format!("type {other:?} is not supported by this client")),
        })
    }
}

// ---- JSON-like literals -------------------------------------------------------

#[derive(Debug)]
enum Value {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    List(Vec<Value>),
    Object(Vec<(Value, Value)>),
}

fn parse_value(text: &str) -> Result<Value, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    let v = value(&chars, &mut at)?;
    skip_ws(&chars, &mut at);
    if at != chars.len() {
        return Err(format!("unexpected text after the literal in {text:?}"));
    }
    Ok(v)
}

fn skip_ws(c: &[char], at: &mut usize) {
    while c.get(*at).is_some_and(|c| c.is_whitespace()) {
        *at += 1;
    }
}

fn value(c: &[char], at: &mut usize) -> Result<Value, String> {
    skip_ws(c, at);
    match c.get(*at) {
        None => Err("a literal is missing".into()),
        Some('"') => {
            *at += 1;
            let mut s = String::new();
            loop {
                match c.get(*at) {
                    None => return Err("unterminated string".into()),
                    Some('"') => break,
                    Some('\\') => {
                        *at += 1;
                        s.push(match c.get(*at) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some('r') => '\r',
                            Some(&other) => other,
                            None => return Err("unterminated string".into()),
                        });
                    }
                    Some(&ch) => s.push(ch),
                }
                *at += 1;
            }
            *at += 1;
            Ok(Value::Str(s))
        }
        Some(open @ ('[' | '{')) => {
            let close = if *open == '[' { ']' } else { '}' };
            let object = *open == '{';
            *at += 1;
            let (mut items, mut pairs) = (Vec::new(), Vec::new());
            loop {
                skip_ws(c, at);
                if c.get(*at) == Some(&close) {
                    *at += 1;
                    break;
                }
                let v = value(c, at)?;
                if object {
                    skip_ws(c, at);
                    if c.get(*at) != Some(&':') {
                        return Err("expected ':' in an object".into());
                    }
                    *at += 1;
                    pairs.push((v, value(c, at)?));
                } else {
                    items.push(v);
                }
                skip_ws(c, at);
                match c.get(*at) {
                    Some(',') => *at += 1,
                    Some(&ch) if ch == close => {}
                    _ => return Err(format!("expected ',' or '{close}'")),
                }
            }
            Ok(if object {
                Value::Object(pairs)
            } else {
                Value::List(items)
            })
        }
        Some(_) => {
            let start = *at;
            while c
                .get(*at)
                .is_some_and(|ch| ch.is_alphanumeric() || matches!(ch, '-' | '+' | '.' | '_'))
            {
                *at += 1;
            }
            let word: String = c[start..*at].iter().collect();
            match word.as_str() {
                "null" | "None" => Ok(Value::Null),
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "" => Err(format!("unexpected {:?}", c[start])),
                _ => Ok(Value::Num(word)),
            }
        }
    }
}

// ---- the std codec (docs/PROTOCOL.md §5) -------------------------------------

fn varint(n: u128, out: &mut Vec<u8>) {
    if n < 251 {
        out.push(n as u8);
    } else if n < 1 << 16 {
        out.push(0xfb);
        out.extend_from_slice(&(n as u16).to_le_bytes());
    } else if n < 1 << 32 {
        out.push(0xfc);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    } else if n < 1 << 64 {
        out.push(0xfd);
        out.extend_from_slice(&(n as u64).to_le_bytes());
    } else {
        out.push(0xfe);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

fn encode(ty: &Ty, v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    let wrong = || format!("{v:?} is not a {ty:?}");
    match (ty, v) {
        (Ty::Unsigned(bits), Value::Num(n)) => {
            let n: u128 = n.parse().map_err(|_| wrong())?;
            if *bits < 128 && n >> bits != 0 {
                return Err(format!("{n} does not fit in u{bits}"));
            }
            if *bits == 8 {
                out.push(n as u8)
            } else {
                varint(n, out)
            }
        }
        (Ty::Signed(bits), Value::Num(n)) => {
            let n: i128 = n.parse().map_err(|_| wrong())?;
            if *bits < 128 && (n >> (bits - 1) != 0 && n >> (bits - 1) != -1) {
                return Err(format!("{n} does not fit in i{bits}"));
            }
            if *bits == 8 {
                out.push(n as i8 as u8);
            } else {
                let z = ((n << 1) ^ (n >> 127)) as u128;
                varint(z, out);
            }
        }
        (Ty::F32, Value::Num(n)) => {
            out.extend_from_slice(&n.parse::<f32>().map_err(|_| wrong())?.to_le_bytes())
        }
        (Ty::F64, Value::Num(n)) => {
            out.extend_from_slice(&n.parse::<f64>().map_err(|_| wrong())?.to_le_bytes())
        }
        (Ty::Bool, Value::Bool(b)) => out.push(u8::from(*b)),
        (Ty::Char, Value::Str(s)) if s.chars().count() == 1 => out.extend_from_slice(s.as_bytes()),
        (Ty::Str, Value::Str(s)) => {
            varint(s.len() as u128, out);
            out.extend_from_slice(s.as_bytes());
        }
        (Ty::Duration, Value::Num(n)) => {
            let d = std::time::Duration::try_from_secs_f64(n.parse().map_err(|_| wrong())?)
                .map_err(|e| e.to_string())?;
            varint(u128::from(d.as_secs()), out);
            varint(u128::from(d.subsec_nanos()), out);
        }
        (Ty::Seq(elem), Value::List(items)) => {
            varint(items.len() as u128, out);
            for item in items {
                encode(elem, item, out)?;
            }
        }
        (Ty::Array(elem, n), Value::List(items)) if items.len() == *n => {
            for item in items {
                encode(elem, item, out)?;
            }
        }
        (Ty::Tuple(fields), Value::List(items)) if items.len() == fields.len() => {
            for (f, item) in fields.iter().zip(items) {
                encode(f, item, out)?;
            }
        }
        (Ty::Tuple(fields), Value::Null) if fields.is_empty() => {}
        (Ty::Map(k, val), Value::Object(pairs)) => {
            varint(pairs.len() as u128, out);
            for (key, value) in pairs {
                encode(k, key, out)?;
                encode(val, value, out)?;
            }
        }
        (Ty::Option(_), Value::Null) => out.push(0),
        (Ty::Option(inner), v) => {
            out.push(1);
            encode(inner, v, out)?;
        }
        (Ty::Result(ok, err), Value::Object(pairs)) if pairs.len() == 1 => match &pairs[0] {
            (Value::Str(tag), v) if tag == "Ok" => {
                out.push(0);
                encode(ok, v, out)?;
            }
            (Value::Str(tag), v) if tag == "Err" => {
                out.push(1);
                encode(err, v, out)?;
            }
            _ => return Err(wrong()),
        },
        _ => return Err(wrong()),
    }
    Ok(())
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if input.len() < n {
        return Err("the reply ended early".into());
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

fn read_varint(input: &mut &[u8]) -> Result<u128, String> {
    let tag = take(input, 1)?[0];
    let le = |b: &[u8]| {
        b.iter()
            .rev()
            .fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
    };
    Ok(match tag {
        0..=250 => u128::from(tag),
        0xfb => le(take(input, 2)?),
        0xfc => le(take(input, 4)?),
        0xfd => le(take(input, 8)?),
        0xfe => le(take(input, 16)?),
        _ => return Err("bad varint in the reply".into()),
    })
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn decode(ty: &Ty, input: &mut &[u8]) -> Result<String, String> {
    Ok(match ty {
        Ty::Unsigned(8) => take(input, 1)?[0].to_string(),
        Ty::Unsigned(_) => read_varint(input)?.to_string(),
        Ty::Signed(8) => (take(input, 1)?[0] as i8).to_string(),
        Ty::Signed(_) => {
            let z = read_varint(input)?;
            ((z >> 1) as i128 ^ -((z & 1) as i128)).to_string()
        }
        Ty::F32 => f32::from_le_bytes(take(input, 4)?.try_into().map_err(|_| "f32")?).to_string(),
        Ty::F64 => f64::from_le_bytes(take(input, 8)?.try_into().map_err(|_| "f64")?).to_string(),
        Ty::Bool => (take(input, 1)?[0] != 0).to_string(),
        Ty::Char => {
            let len = match input.first() {
                Some(b) if *b >= 0xf0 => 4,
                Some(b) if *b >= 0xe0 => 3,
                Some(b) if *b >= 0xc0 => 2,
                _ => 1,
            };
            quote(std::str::from_utf8(take(input, len)?).map_err(|e| e.to_string())?)
        }
        Ty::Str => {
            let n = read_varint(input)? as usize;
            quote(std::str::from_utf8(take(input, n)?).map_err(|e| e.to_string())?)
        }
        Ty::Duration => {
            let secs = read_varint(input)?;
            let nanos = read_varint(input)?;
            format!("{}", secs as f64 + nanos as f64 / 1e9)
        }
        Ty::Seq(elem) => {
            let n = read_varint(input)?;
            let items = (0..n)
                .map(|_| decode(elem, input))
                .collect::<Result<Vec<_>, _>>()?;
            format!("[{}]", items.join(", "))
        }
        Ty::Array(elem, n) => {
            let items = (0..*n)
                .map(|_| decode(elem, input))
                .collect::<Result<Vec<_>, _>>()?;
            format!("[{}]", items.join(", "))
        }
        Ty::Tuple(fields) if fields.is_empty() => "null".into(),
        Ty::Tuple(fields) => {
            let items = fields
                .iter()
                .map(|f| decode(f, input))
                .collect::<Result<Vec<_>, _>>()?;
            format!("[{}]", items.join(", "))
        }
        Ty::Map(k, v) => {
            let n = read_varint(input)?;
            let mut pairs = Vec::new();
            for _ in 0..n {
                let key = decode(k, input)?;
                pairs.push(format!("{key}: {}", decode(v, input)?));
            }
            format!("{{{}}}", pairs.join(", "))
        }
        Ty::Option(inner) => match take(input, 1)?[0] {
            0 => "null".into(),
            _ => decode(inner, input)?,
        },
        Ty::Result(ok, err) => match read_varint(input)? {
            0 => format!("{{\"Ok\": {}}}", decode(ok, input)?),
            _ => format!("{{\"Err\": {}}}", decode(err, input)?),
        },
    })
}
