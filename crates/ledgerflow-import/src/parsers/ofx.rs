//! OFX, QFX and QBO, SGML 1.x and XML 2.x, read the way banks really write them: leaf elements
//! with or without end tags, bare `&`, entities (also double-escaped), CDATA, empty and
//! self-closing elements, one-line files with header keys run together, missing headers,
//! several statements (bank, credit card, the cash part of investment statements) per file.
//!
//! DTPOSTED is a calendar date: its first eight digits are used as they are, never shifted by
//! the time zone that may follow.
//!
//! Aggregates nest at most [`MAX_DEPTH`] deep, and a value or a tag holds at most [`MAX_LINE`]
//! bytes (a whole OFX file is often one line, so lines themselves are not limited).

use chrono::NaiveDate;
use ledgerflow_core::money::Currency;
use rust_decimal::RoundingStrategy;

use crate::model::{
    Format, MAX_DEPTH, MAX_LINE, ParseError, ParsedFile, ParsedTxn, RowError, Statement,
    parse_amount, shown, too_deep,
};
use crate::parsers::decode::{decode, encoding_for};

/// Header keys of OFX 1.x, used to split headers that were run together on one line.
const HEADER_KEYS: &[&str] = &[
    "OFXHEADER",
    "DATA",
    "VERSION",
    "SECURITY",
    "ENCODING",
    "CHARSET",
    "COMPRESSION",
    "OLDFILEUID",
    "NEWFILEUID",
];

/// Does this look like OFX?
pub fn sniff(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_uppercase();
    // The file starts as OFX does (its header, an XML prolog, or the element itself): a CSV
    // whose payee holds "<OFX>" is no OFX file.
    let t = head.trim_start_matches('\u{feff}').trim_start();
    t.starts_with("OFXHEADER")
        || t.starts_with("<?OFX")
        || t.starts_with("<OFX")
        || (t.starts_with("<?XML") && (head.contains("<?OFX") || head.contains("<OFX>")))
        // A header without its first key ("DATA:OFXSGML" first).
        || (HEADER_KEYS.iter().any(|k| t.starts_with(&format!("{k}:")))
            && head.contains("<OFX"))
}

fn header_value(header: &str, key: &str) -> Option<String> {
    let upper = header.to_ascii_uppercase();
    let at = upper.find(&format!("{key}:"))? + key.len() + 1;
    let rest = &header[at..];
    let mut end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let rest_upper = rest.to_ascii_uppercase();
    for k in HEADER_KEYS {
        if let Some(i) = rest_upper[..end].find(k).filter(|i| *i > 0) {
            end = end.min(i);
        }
    }
    Some(rest[..end].trim().to_string())
}

fn xml_encoding(text: &str) -> Option<String> {
    let start = text.find("<?xml")?;
    let end = text[start..].find("?>")? + start;
    let decl = &text[start..end];
    let at = decl.find("encoding=")? + "encoding=".len();
    let q = decl[at..].chars().next()?;
    let rest = &decl[at + q.len_utf8()..];
    Some(rest[..rest.find(q)?].to_string())
}

#[derive(Debug)]
enum Token {
    Open(String, usize),
    Close(String),
    SelfClose(String, usize),
    Text(String),
}

/// Decodes XML/SGML entities; twice, so double-escaped text (`&amp;lt;`) reads as `<`. A bare
/// `&` that starts no entity is kept as it is.
fn unescape(s: &str) -> String {
    let once = unescape_once(s);
    if once.contains('&') {
        unescape_once(&once)
    } else {
        once
    }
}

fn unescape_once(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let ch = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                "copy" => Some('©'),
                _ if name.starts_with("#x") || name.starts_with("#X") => {
                    u32::from_str_radix(&name[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            ch.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A value of more than [`MAX_LINE`] bytes is refused, naming the line where it starts.
fn value(text: &str, line: usize) -> Result<&str, String> {
    let t = text.trim();
    if t.len() > MAX_LINE {
        let line = line
            + text[..text.len() - text.trim_start().len()]
                .matches('\n')
                .count();
        return Err(format!(
            "line {line}: a value is longer than {MAX_LINE} bytes"
        ));
    }
    Ok(t)
}

/// Splits the body into tags and values. Values and tags over [`MAX_LINE`] bytes are refused.
fn tokenize(body: &str, first_line: usize) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut line = first_line;
    let mut rest = body;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            let t = value(rest, line)?;
            if !t.is_empty() {
                tokens.push(Token::Text(unescape(t)));
            }
            break;
        };
        let text = &rest[..lt];
        let t = value(text, line)?;
        line += text.matches('\n').count();
        if !t.is_empty() {
            tokens.push(Token::Text(unescape(t)));
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").unwrap_or(after.len());
            let t = value(&after[..end], line)?;
            line += after[..end].matches('\n').count();
            tokens.push(Token::Text(t.to_string()));
            rest = after.get(end + 3..).unwrap_or("");
            continue;
        }
        let Some(gt) = rest.find('>') else {
            break;
        };
        let inner = &rest[1..gt];
        if inner.len() > MAX_LINE {
            return Err(format!(
                "line {line}: a tag is longer than {MAX_LINE} bytes"
            ));
        }
        line += inner.matches('\n').count();
        rest = &rest[gt + 1..];
        if inner.starts_with('?') || inner.starts_with('!') {
            continue;
        }
        if let Some(name) = inner.strip_prefix('/') {
            tokens.push(Token::Close(name.trim().to_ascii_uppercase()));
        } else if let Some(name) = inner.strip_suffix('/') {
            tokens.push(Token::SelfClose(name.trim().to_ascii_uppercase(), line));
        } else {
            let name = inner
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if !name.is_empty() {
                tokens.push(Token::Open(name, line));
            }
        }
    }
    Ok(tokens)
}

/// An element: an aggregate (children) or a leaf (value).
#[derive(Debug, Default)]
struct El {
    name: String,
    value: Option<String>,
    children: Vec<usize>,
    line: usize,
}

impl El {
    fn new(name: String, value: Option<String>, line: usize) -> Self {
        El {
            name,
            value,
            children: Vec::new(),
            line,
        }
    }
}

/// Appends `el` as the last child of `parent`; returns its id.
fn add_child(els: &mut Vec<El>, parent: usize, el: El) -> usize {
    let id = els.len();
    els.push(el);
    els[parent].children.push(id);
    id
}

struct Tree {
    els: Vec<El>,
}

impl Tree {
    /// Builds the tree; aggregates may nest [`MAX_DEPTH`] deep.
    fn build(tokens: Vec<Token>) -> Result<Tree, String> {
        let mut els = vec![El {
            name: "#ROOT".into(),
            ..Default::default()
        }];
        let mut stack = vec![0usize];
        let mut it = tokens.into_iter().peekable();
        while let Some(tok) = it.next() {
            let parent = *stack.last().unwrap_or(&0);
            match tok {
                Token::Open(name, line) => match it.peek() {
                    Some(Token::Text(_)) => {
                        let value = match it.next() {
                            Some(Token::Text(t)) => t,
                            _ => String::new(),
                        };
                        if matches!(it.peek(), Some(Token::Close(c)) if *c == name) {
                            it.next();
                        }
                        add_child(&mut els, parent, El::new(name, Some(value), line));
                    }
                    Some(Token::Close(c)) if *c == name => {
                        it.next();
                        add_child(&mut els, parent, El::new(name, Some(String::new()), line));
                    }
                    _ => {
                        if stack.len() > MAX_DEPTH {
                            return Err(too_deep(line));
                        }
                        let id = add_child(&mut els, parent, El::new(name, None, line));
                        stack.push(id);
                    }
                },
                Token::SelfClose(name, line) => {
                    add_child(&mut els, parent, El::new(name, Some(String::new()), line));
                }
                Token::Close(name) => {
                    if let Some(pos) = stack.iter().rposition(|&i| els[i].name == name)
                        && pos > 0
                    {
                        stack.truncate(pos);
                    }
                }
                Token::Text(_) => {}
            }
        }
        Ok(Tree { els })
    }

    /// Every descendant of `id` named `name`, in document order, not descending into matches.
    fn find_all(&self, id: usize, name: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut todo: Vec<usize> = self.els[id].children.iter().rev().copied().collect();
        while let Some(i) = todo.pop() {
            if self.els[i].name == name {
                out.push(i);
            } else {
                todo.extend(self.els[i].children.iter().rev());
            }
        }
        out
    }

    fn first(&self, id: usize, name: &str) -> Option<usize> {
        self.find_all(id, name).into_iter().next()
    }

    /// Value of the first leaf named `name` below `id` (empty values count as absent).
    fn leaf(&self, id: usize, name: &str) -> Option<String> {
        self.first(id, name)
            .and_then(|i| self.els[i].value.clone())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }
}

/// The calendar date of an OFX date-time: its first eight digits, time and zone ignored.
pub fn ofx_date(s: &str) -> Option<NaiveDate> {
    let digits: String = s.trim().chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 8 {
        return None;
    }
    NaiveDate::parse_from_str(&digits[..8], "%Y%m%d").ok()
}

const STATEMENTS: &[&str] = &["STMTRS", "CCSTMTRS", "INVSTMTRS"];

pub fn parse(bytes: &[u8], file: &str) -> Result<ParsedFile, ParseError> {
    let fail = |reason: String| ParseError {
        file: file.to_string(),
        reason,
    };
    let ascii = String::from_utf8_lossy(&bytes[..bytes.len().min(8192)]).into_owned();
    let header_end = ascii.find('<').unwrap_or(ascii.len());
    let header = &ascii[..header_end];
    let declared = header_value(header, "CHARSET")
        .filter(|c| !c.eq_ignore_ascii_case("none"))
        .or_else(|| header_value(header, "ENCODING").filter(|e| e.eq_ignore_ascii_case("utf-8")))
        .or_else(|| xml_encoding(&ascii))
        .and_then(|c| encoding_for(&c));
    let decoded = decode(bytes, declared);
    let mut warnings: Vec<String> = decoded.warning.into_iter().collect();
    let text = decoded.text;
    let upper = text.to_ascii_uppercase();
    let Some(start) = upper.find("<OFX>").or_else(|| upper.find("<OFX ")) else {
        return Err(fail("not an OFX file: no <OFX> element".into()));
    };
    if !upper[..start].contains("OFXHEADER") && !upper[..start].contains("<?OFX") {
        warnings.push("the file has no OFX header; read as OFX from its <OFX> element".into());
    }
    let first_line = text[..start].matches('\n').count() + 1;
    let tree = tokenize(&text[start..], first_line)
        .and_then(Tree::build)
        .map_err(fail)?;

    let mut statements = Vec::new();
    let mut errors = Vec::new();
    let mut stmt_ids: Vec<usize> = Vec::new();
    for name in STATEMENTS {
        stmt_ids.extend(tree.find_all(0, name));
    }
    stmt_ids.sort_unstable();
    for sid in stmt_ids {
        let kind = tree.els[sid].name.clone();
        let currency = tree.leaf(sid, "CURDEF");
        let mut st = Statement {
            account: tree.leaf(sid, "ACCTID"),
            currency: currency.clone(),
            ..Default::default()
        };
        if let Some(list) = tree.first(sid, "BANKTRANLIST") {
            st.start = tree.leaf(list, "DTSTART").as_deref().and_then(ofx_date);
            st.end = tree.leaf(list, "DTEND").as_deref().and_then(ofx_date);
        }
        let txn_ids = if kind == "INVSTMTRS" {
            tree.find_all(sid, "INVBANKTRAN")
                .into_iter()
                .flat_map(|i| tree.find_all(i, "STMTTRN"))
                .collect()
        } else {
            tree.find_all(sid, "STMTTRN")
        };
        for tid in txn_ids {
            match read_txn(&tree, tid, currency.as_deref()) {
                Ok(mut t) => {
                    to_currency_decimals(&mut t, &mut warnings);
                    st.transactions.push(t)
                }
                Err(e) => errors.push(e),
            }
        }
        statements.push(st);
    }
    if statements.is_empty() {
        let status = tree
            .leaf(0, "MESSAGE")
            .or_else(|| tree.leaf(0, "CODE").map(|c| format!("status code {c}")));
        warnings.push(match status {
            Some(s) => format!("the file holds no statement ({})", shown(&s)),
            None => "the file holds no statement".into(),
        });
    }
    Ok(ParsedFile {
        format: Format::Ofx,
        profile: None,
        statements,
        evidence: Vec::new(),
        warnings,
        errors,
    })
}

/// Money-market and sweep rows carry more decimals than their currency has (`115.8331` USD):
/// rounded half to even to the currency, with a warning that keeps the text the bank wrote,
/// instead of refusing the whole file. A row whose currency is not known here is left as it is
/// (the import refuses it against the account's currency).
fn to_currency_decimals(t: &mut ParsedTxn, warnings: &mut Vec<String>) {
    let Some(currency) = t
        .currency
        .as_deref()
        .and_then(|c| Currency::from_code(c).ok())
    else {
        return;
    };
    let places = currency.exponent();
    if t.amount.normalize().scale() <= places {
        return;
    }
    let rounded = t
        .amount
        .round_dp_with_strategy(places, RoundingStrategy::MidpointNearestEven);
    warnings.push(format!(
        "line {}: amount {} has more decimals than {} ({places}): rounded to {rounded}",
        t.line,
        t.amount,
        currency.code()
    ));
    t.amount = rounded;
}

/// A value transaction `tid` must have: missing, or not readable by `read`, it is an error on
/// the transaction's row.
fn required<T>(
    tree: &Tree,
    tid: usize,
    tag: &str,
    missing: &str,
    bad: &str,
    read: impl Fn(&str) -> Option<T>,
) -> Result<T, RowError> {
    let line = tree.els[tid].line;
    let text = tree.leaf(tid, tag).ok_or_else(|| RowError {
        line,
        reason: format!("transaction has no {tag} {missing}"),
    })?;
    read(&text).ok_or_else(|| RowError {
        line,
        reason: format!("{tag} \"{}\" is not {bad}", shown(&text)),
    })
}

fn read_txn(tree: &Tree, tid: usize, currency: Option<&str>) -> Result<ParsedTxn, RowError> {
    let line = tree.els[tid].line;
    let date = required(
        tree,
        tid,
        "DTPOSTED",
        "date",
        "a date (YYYYMMDD…)",
        ofx_date,
    )?;
    let amount = required(tree, tid, "TRNAMT", "amount", "an amount", parse_amount)?;
    let name = tree.leaf(tid, "NAME");
    let memo = tree.leaf(tid, "MEMO").unwrap_or_default();
    let payee = name.unwrap_or_else(|| memo.clone());
    Ok(ParsedTxn {
        date,
        value_date: tree.leaf(tid, "DTUSER").as_deref().and_then(ofx_date),
        amount,
        currency: tree
            .first(tid, "CURRENCY")
            .and_then(|c| tree.leaf(c, "CURSYM"))
            .or_else(|| currency.map(str::to_string)),
        payee,
        memo,
        external_id: tree.leaf(tid, "FITID"),
        check_number: tree.leaf(tid, "CHECKNUM"),
        category: None,
        line,
        page: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SGML: &str = "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nCHARSET:1252\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>123</BANKACCTFROM>\n<BANKTRANLIST><DTSTART>20240101<DTEND>20240131\n<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105120000.000[-5:EST]<TRNAMT>-4.50<FITID>A1<NAME>AT&T WIRELESS<MEMO>bill &amp; more</STMTTRN>\n<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240131<TRNAMT>+1000,00<FITID>A2<NAME>PAYROLL</NAME><MEMO/></STMTTRN>\n</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>";

    #[test]
    fn sgml_with_bare_ampersands_mixed_end_tags_and_time_zones() {
        let f = parse(SGML.as_bytes(), "t.ofx").expect("parses");
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let st = &f.statements[0];
        assert_eq!(st.account.as_deref(), Some("123"));
        assert_eq!(st.currency.as_deref(), Some("USD"));
        assert_eq!(st.start, NaiveDate::from_ymd_opt(2024, 1, 1));
        let t = &st.transactions;
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0].date,
            NaiveDate::from_ymd_opt(2024, 1, 5).expect("d"),
            "no zone shift"
        );
        assert_eq!(t[0].payee, "AT&T WIRELESS");
        assert_eq!(t[0].memo, "bill & more");
        assert_eq!(t[0].amount.to_string(), "-4.50");
        assert_eq!(t[0].line, 8);
        assert_eq!(t[1].amount.to_string(), "1000.00");
        assert_eq!(t[1].memo, "");
    }

    #[test]
    fn a_bad_row_names_its_line_and_a_non_ofx_file_is_refused() {
        let bad = SGML.replace("<DTPOSTED>20240131", "<DTPOSTED>2024");
        let f = parse(bad.as_bytes(), "t.ofx").expect("parses");
        assert_eq!(f.errors.len(), 1);
        assert_eq!(f.errors[0].line, 9);
        assert!(f.errors[0].reason.contains("DTPOSTED \"2024\""));
        assert!(parse(b"date,amount\n2024-01-01,1\n", "x.csv").is_err());
    }

    #[test]
    fn odd_xml_declarations_do_not_panic() {
        let _ = parse(
            "<?xml encoding=\u{201c}UTF-8\u{201d}?><OFX></OFX>".as_bytes(),
            "x.ofx",
        );
        let _ = parse(b"<?xml encoding=\xff?><OFX></OFX>", "x.ofx");
    }

    #[test]
    fn header_keys_run_together() {
        assert_eq!(
            header_value("ENCODING:USASCIICHARSET:1252COMPRESSION:NONE", "CHARSET").as_deref(),
            Some("1252")
        );
        assert_eq!(unescape("TPAY &amp;lt;DEFTPYMT&amp;gt;"), "TPAY <DEFTPYMT>");
        assert_eq!(unescape("A & B &#233;"), "A & B é");
    }

    /// Money-market rows with more decimals than the currency are rounded half to even, each
    /// with a warning that keeps the bank's text; exact amounts (trailing zeros) are left alone,
    /// and a JPY statement rounds to whole yen.
    #[test]
    fn extra_decimals_round_half_even_with_a_warning() {
        let doc = |cur: &str, amounts: &[&str]| {
            let rows: String = amounts
                .iter()
                .enumerate()
                .map(|(i, a)| format!("<STMTTRN><TRNTYPE>DEP<DTPOSTED>20240105<TRNAMT>{a}<FITID>F{i}<NAME>Sweep</STMTTRN>\n"))
                .collect();
            format!(
                "OFXHEADER:100\nDATA:OFXSGML\n\n<OFX><STMTRS><CURDEF>{cur}<BANKACCTFROM><ACCTID>1</BANKACCTFROM><BANKTRANLIST>\n{rows}</BANKTRANLIST></STMTRS></OFX>"
            )
        };
        let f = parse(
            doc("USD", &["115.8331", "0.125", "0.135", "-2.005", "-30.000"]).as_bytes(),
            "mm.ofx",
        )
        .expect("parses");
        let amounts: Vec<String> = f.statements[0]
            .transactions
            .iter()
            .map(|t| t.amount.to_string())
            .collect();
        assert_eq!(amounts, vec!["115.83", "0.12", "0.14", "-2.00", "-30.000"]);
        assert_eq!(f.warnings.len(), 4, "{:?}", f.warnings);
        assert!(
            f.warnings[0].contains("115.8331") && f.warnings[0].contains("rounded to 115.83"),
            "{:?}",
            f.warnings
        );
        let f = parse(doc("JPY", &["1200.5"]).as_bytes(), "jpy.ofx").expect("parses");
        assert_eq!(f.statements[0].transactions[0].amount.to_string(), "1200");
    }
}
