//! ISO 20022 bank-to-customer statements: camt.053 (any `camt.053.001.xx` namespace) and the
//! booked entries of camt.052 and camt.054. Elements are matched by local name, so every
//! version reads the same. The sign comes from `CdtDbtInd` (a reversal flips it); the booking
//! date is the transaction date and the value date is kept beside it; an entry with several
//! `TxDtls` that carry their own amounts becomes one transaction per detail; pending entries
//! are skipped and counted in a warning.
//!
//! Hostile files are refused, not followed: elements nest at most [`MAX_DEPTH`] deep, and an
//! element's text or a tag holds at most [`MAX_LINE`] bytes. The tree is a flat arena, so no
//! walk over it (nor its drop) recurses.

use chrono::NaiveDate;
use quick_xml::Reader;
use quick_xml::events::Event;
use rust_decimal::Decimal;

use crate::model::{
    Format, MAX_DEPTH, MAX_LINE, ParseError, ParsedFile, ParsedTxn, RowError, Statement,
    parse_amount, shown, too_deep,
};
use crate::parsers::decode::{decode, encoding_for};

pub fn sniff(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    // The namespace, or the root of a statement, a report or a notification.
    const MARKS: [&str; 4] = [
        "camt.05",
        "BkToCstmrStmt",
        "BkToCstmrAcctRpt",
        "BkToCstmrDbtCdtNtfctn",
    ];
    // An XML document: an MT940 or CSV that mentions "camt.053" in a text is none.
    let t = head.trim_start_matches('\u{feff}').trim_start();
    t.starts_with('<') && MARKS.iter().any(|m| head.contains(m))
}

/// An element. The tree is a flat arena ([`Doc`]): children are indices, so neither walking
/// nor dropping it recurses, however the file nests.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    /// `text` holds more than whitespace.
    solid: bool,
    children: Vec<usize>,
    line: usize,
}

/// Every element of a document; the first is the root.
struct Doc {
    nodes: Vec<Node>,
}

impl Doc {
    fn root(&self) -> El<'_> {
        El { doc: self, id: 0 }
    }
}

/// An element of a [`Doc`].
#[derive(Clone, Copy)]
struct El<'a> {
    doc: &'a Doc,
    id: usize,
}

impl<'a> El<'a> {
    fn node(self) -> &'a Node {
        &self.doc.nodes[self.id]
    }
    fn line(self) -> usize {
        self.node().line
    }
    fn text(self) -> &'a str {
        &self.node().text
    }
    fn children(self) -> impl Iterator<Item = El<'a>> + 'a {
        let doc = self.doc;
        self.node().children.iter().map(move |&id| El { doc, id })
    }
    fn child(self, name: &str) -> Option<El<'a>> {
        self.children().find(|c| c.node().name == name)
    }
    fn children_named(self, name: &'a str) -> impl Iterator<Item = El<'a>> + 'a {
        self.children().filter(move |c| c.node().name == name)
    }
    /// Text at a path of child names ("BookgDt/Dt").
    fn at(self, path: &str) -> Option<&'a str> {
        let mut n = self;
        for p in path.split('/') {
            n = n.child(p)?;
        }
        Some(n.text().trim()).filter(|t| !t.is_empty())
    }
    /// Every descendant named `name`, in document order, not descending into matches. Walks
    /// with an explicit stack.
    fn descendants(self, name: &str, out: &mut Vec<El<'a>>) {
        let mut todo: Vec<usize> = self.node().children.iter().rev().copied().collect();
        while let Some(id) = todo.pop() {
            let n = &self.doc.nodes[id];
            if n.name == name {
                out.push(El { doc: self.doc, id });
            } else {
                todo.extend(n.children.iter().rev());
            }
        }
    }
    fn attr(self, name: &str) -> Option<&'a str> {
        self.node()
            .attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or(name).to_string()
}

/// Line numbers of byte positions that only grow: counts the newlines once.
struct Lines<'t> {
    text: &'t [u8],
    pos: usize,
    line: usize,
}

impl Lines<'_> {
    fn at(&mut self, pos: usize) -> usize {
        let pos = pos.min(self.text.len());
        if pos < self.pos {
            // Not expected (positions only grow); count from the start.
            self.pos = 0;
            self.line = 1;
        }
        self.line += self.text[self.pos..pos]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.pos = pos;
        self.line
    }
}

/// Appends text to an element, refusing more than [`MAX_LINE`] bytes in one element.
fn add_text(node: &mut Node, text: &str, line: usize) -> Result<(), String> {
    if node.text.len() + text.len() > MAX_LINE {
        return Err(format!(
            "line {line}: the text of <{}> is longer than {MAX_LINE} bytes",
            shown(&node.name)
        ));
    }
    node.solid |= !text.trim().is_empty();
    node.text.push_str(text);
    Ok(())
}

fn build(text: &str) -> Result<Doc, String> {
    let mut reader = Reader::from_str(text);
    let mut nodes = vec![Node {
        name: "#root".into(),
        ..Default::default()
    }];
    // The open elements, the root first.
    let mut stack = vec![0usize];
    let mut lines = Lines {
        text: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    loop {
        let pos = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                let line = lines.at(reader.buffer_position() as usize);
                return Err(format!(
                    "line {line}: not well-formed XML: {}",
                    shown(&e.to_string())
                ));
            }
        };
        let parent = stack.last().copied().unwrap_or(0);
        match event {
            Event::Start(_) | Event::Empty(_) => {
                let line = lines.at(pos);
                let (e, open) = match &event {
                    Event::Start(e) => (e, true),
                    Event::Empty(e) => (e, false),
                    _ => continue,
                };
                if e.len() > MAX_LINE {
                    return Err(format!(
                        "line {line}: a tag is longer than {MAX_LINE} bytes"
                    ));
                }
                if open && stack.len() > MAX_DEPTH {
                    return Err(too_deep(line));
                }
                let attrs = e
                    .attributes()
                    .flatten()
                    .map(|a| (local(a.key.as_ref()), a.value.to_string()))
                    .collect();
                // Whitespace between an aggregate's children is layout, not text: dropped, so
                // that a statement of many entries does not gather it.
                if !nodes[parent].solid {
                    nodes[parent].text.clear();
                }
                let id = nodes.len();
                nodes.push(Node {
                    name: local(e.name().as_ref()),
                    attrs,
                    line,
                    ..Default::default()
                });
                nodes[parent].children.push(id);
                if open {
                    stack.push(id);
                }
            }
            Event::End(_) if stack.len() > 1 => {
                stack.pop();
            }
            Event::Text(t) => {
                let raw: String = t.to_string();
                let text = quick_xml::escape::unescape(&raw)
                    .map(|c| c.into_owned())
                    .unwrap_or(raw);
                add_text(&mut nodes[parent], &text, lines.at(pos))?;
            }
            Event::CData(t) => {
                add_text(&mut nodes[parent], &t, lines.at(pos))?;
            }
            Event::GeneralRef(r) => {
                let name: String = r.to_string();
                let s = format!("&{name};");
                let text = quick_xml::escape::unescape(&s)
                    .map(|c| c.into_owned())
                    .unwrap_or(s);
                add_text(&mut nodes[parent], &text, lines.at(pos))?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err(format!(
            "the XML ends inside <{}>",
            stack
                .last()
                .map(|&i| shown(&nodes[i].name))
                .unwrap_or_default()
        ));
    }
    Ok(Doc { nodes })
}

fn date_of(n: Option<El<'_>>) -> Option<NaiveDate> {
    let n = n?;
    let t = n.at("Dt").or_else(|| n.at("DtTm"))?;
    NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()
}

pub fn parse(bytes: &[u8], file: &str) -> Result<ParsedFile, ParseError> {
    let fail = |reason: String| ParseError {
        file: file.to_string(),
        reason,
    };
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
    let declared = head
        .find("encoding=")
        .and_then(|i| head[i + 9..].split(['"', '\'']).nth(1).map(str::to_string))
        .and_then(|e| encoding_for(&e));
    let decoded = decode(bytes, declared);
    let mut warnings: Vec<String> = decoded.warning.into_iter().collect();
    let doc = build(&decoded.text).map_err(fail)?;
    let root = doc.root();
    let mut stmts = Vec::new();
    for container in ["Stmt", "Rpt", "Ntfctn"] {
        root.descendants(container, &mut stmts);
    }
    if stmts.is_empty() {
        return Err(fail(
            "not a CAMT statement: no Stmt, Rpt or Ntfctn element".into(),
        ));
    }
    let mut statements = Vec::new();
    let mut errors = Vec::new();
    let mut pending = 0usize;
    let mut undated = 0usize;
    let mut headers = Vec::new();
    root.descendants("GrpHdr", &mut headers);
    let file_created = headers.first().and_then(|h| h.at("CreDtTm"));
    for s in stmts {
        // An entry with neither a booking nor a value date (seen in CAMT.052/.054) takes the
        // date the report or notification was created.
        let created = s
            .at("CreDtTm")
            .or(file_created)
            .and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok());
        let currency = s.at("Acct/Ccy").map(str::to_string);
        let mut st = Statement {
            account: s
                .at("Acct/Id/IBAN")
                .or_else(|| s.at("Acct/Id/Othr/Id"))
                .map(str::to_string),
            currency: currency.clone(),
            start: s
                .at("FrToDt/FrDtTm")
                .and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()),
            end: s
                .at("FrToDt/ToDtTm")
                .and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()),
            transactions: Vec::new(),
            ..Default::default()
        };
        for e in s.children_named("Ntry") {
            let status = e.at("Sts/Cd").or_else(|| e.at("Sts")).unwrap_or("BOOK");
            if status != "BOOK" {
                pending += 1;
                continue;
            }
            match entry(e, currency.as_deref(), created) {
                Ok((mut ts, dated_by_report)) => {
                    undated += usize::from(dated_by_report);
                    st.transactions.append(&mut ts)
                }
                Err(err) => errors.push(err),
            }
        }
        if st.start.is_none() {
            st.start = st.transactions.iter().map(|t| t.date).min();
        }
        if st.end.is_none() {
            st.end = st.transactions.iter().map(|t| t.date).max();
        }
        statements.push(st);
    }
    if pending > 0 {
        warnings.push(format!(
            "skipped {pending} entries that are not booked (pending or information only)"
        ));
    }
    if undated > 0 {
        warnings.push(format!(
            "{undated} entries have neither a booking nor a value date: dated by the report's creation date (CreDtTm)"
        ));
    }
    Ok(ParsedFile {
        format: Format::Camt,
        profile: None,
        statements,
        evidence: Vec::new(),
        warnings,
        errors,
    })
}

fn signed(amount: Decimal, ind: Option<&str>, reversal: bool) -> Decimal {
    let debit = ind == Some("DBIT");
    let neg = debit != reversal;
    if neg { -amount } else { amount }
}

fn party_name(d: El<'_>, credit: bool) -> Option<String> {
    // Money in: the debtor paid us; money out: we paid the creditor.
    let (first, second) = if credit {
        ("Dbtr", "Cdtr")
    } else {
        ("Cdtr", "Dbtr")
    };
    d.at(&format!("RltdPties/{first}/Nm"))
        .or_else(|| d.at(&format!("RltdPties/{first}/Pty/Nm")))
        .or_else(|| d.at(&format!("RltdPties/{second}/Nm")))
        .or_else(|| d.at(&format!("RltdPties/{second}/Pty/Nm")))
        .map(str::to_string)
}

fn remittance(d: El<'_>) -> String {
    let mut v = Vec::new();
    if let Some(r) = d.child("RmtInf") {
        for u in r.children_named("Ustrd") {
            let t = u.text().trim();
            if !t.is_empty() {
                v.push(t.to_string());
            }
        }
        if v.is_empty()
            && let Some(t) = r.at("Strd/CdtrRefInf/Ref")
        {
            v.push(t.to_string());
        }
    }
    v.join(" ")
}

/// The transactions of one entry, and whether its date had to be taken from the report
/// (`created`) because the entry has neither a booking nor a value date.
fn entry(
    e: El<'_>,
    currency: Option<&str>,
    created: Option<NaiveDate>,
) -> Result<(Vec<ParsedTxn>, bool), RowError> {
    let err = |reason: String| RowError {
        line: e.line(),
        reason,
    };
    let amt_node = e
        .child("Amt")
        .ok_or_else(|| err("entry has no Amt".into()))?;
    let amount = parse_amount(amt_node.text()).ok_or_else(|| {
        err(format!(
            "Amt \"{}\" is not an amount",
            shown(amt_node.text().trim())
        ))
    })?;
    let ind = e.at("CdtDbtInd");
    match ind {
        None => return Err(err("entry has no CdtDbtInd (credit or debit)".into())),
        Some("DBIT" | "CRDT") => {}
        Some(other) => {
            return Err(err(format!(
                "CdtDbtInd \"{}\" is neither CRDT nor DBIT",
                shown(other)
            )));
        }
    }
    if amount.is_sign_negative() {
        return Err(err(format!(
            "Amt \"{}\" is negative: CAMT amounts are unsigned, CdtDbtInd gives the direction",
            shown(amt_node.text().trim())
        )));
    }
    let reversal = e
        .at("RvslInd")
        .is_some_and(|r| r.eq_ignore_ascii_case("true") || r == "1");
    let own_date = date_of(e.child("BookgDt")).or_else(|| date_of(e.child("ValDt")));
    let date = own_date.or(created).ok_or_else(|| {
        err("entry has no booking or value date, and the report no creation date".into())
    })?;
    let value_date = date_of(e.child("ValDt"));
    let ccy = amt_node.attr("Ccy").or(currency).map(str::to_string);
    let entry_ref = e.at("AcctSvcrRef").map(str::to_string);
    let details: Vec<El<'_>> = e
        .child("NtryDtls")
        .map(|n| n.children_named("TxDtls").collect())
        .unwrap_or_default();
    let credit = signed(amount, ind, reversal) > Decimal::ZERO;
    let detail_amount = |d: El<'_>| {
        d.at("AmtDtls/TxAmt/Amt")
            .or_else(|| d.at("Amt"))
            .and_then(parse_amount)
    };
    // Split a batch entry only when every detail carries its own amount and, signed by each
    // detail's own indicator, they add up to the entry's signed amount.
    let split = details.len() > 1 && {
        let signed_parts: Option<Vec<Decimal>> = details
            .iter()
            .map(|d| {
                let a = detail_amount(*d).filter(|a| !a.is_sign_negative())?;
                let ind = d.at("CdtDbtInd").or(ind);
                Some(signed(a, ind, reversal))
            })
            .collect();
        signed_parts.is_some_and(|parts| {
            parts
                .iter()
                .try_fold(Decimal::ZERO, |acc, p| acc.checked_add(*p))
                == Some(signed(amount, ind, reversal))
        })
    };
    let one = |d: Option<El<'_>>, amt: Decimal, idx: usize| {
        let payee = d.and_then(|d| party_name(d, credit)).unwrap_or_default();
        let memo = d
            .map(remittance)
            .filter(|m| !m.is_empty())
            .or_else(|| e.at("AddtlNtryInf").map(str::to_string))
            .unwrap_or_default();
        let ext = d
            .and_then(|d| {
                d.at("Refs/AcctSvcrRef")
                    .or_else(|| d.at("Refs/EndToEndId"))
                    .filter(|r| *r != "NOTPROVIDED")
            })
            .map(str::to_string)
            .or_else(|| entry_ref.clone())
            .map(|r| if split { format!("{r}#{}", idx + 1) } else { r });
        // The entry's own amount takes the entry's own sign; a detail's amount (a split batch)
        // takes the detail's, when it gives one.
        let ind = if split {
            d.and_then(|d| d.at("CdtDbtInd")).or(ind)
        } else {
            ind
        };
        ParsedTxn {
            date,
            value_date,
            amount: signed(amt, ind, reversal),
            currency: ccy.clone(),
            payee,
            memo,
            external_id: ext,
            check_number: None,
            category: None,
            line: d.map(|d| d.line()).unwrap_or(e.line()),
            page: None,
        }
    };
    let txns = if split {
        details
            .iter()
            .enumerate()
            .filter_map(|(i, d)| detail_amount(*d).map(|a| one(Some(*d), a, i)))
            .collect()
    } else {
        vec![one(details.first().copied(), amount, 0)]
    };
    Ok((txns, own_date.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt>
<Acct><Id><IBAN>DE14740618130000033626</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><Amt Ccy="EUR">3.45</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-01-02</Dt></BookgDt><ValDt><Dt>2024-01-03</Dt></ValDt><AcctSvcrRef>R1</AcctSvcrRef>
<NtryDtls><TxDtls><Amt Ccy="EUR">2.25</Amt><RltdPties><Cdtr><Nm>Bakery</Nm></Cdtr></RltdPties><RmtInf><Ustrd>bread</Ustrd></RmtInf></TxDtls>
<TxDtls><Amt Ccy="EUR">1.20</Amt><RltdPties><Cdtr><Nm>Kiosk</Nm></Cdtr></RltdPties></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd><Sts>BOOK</Sts><BookgDt><DtTm>2024-01-05T10:00:00</DtTm></BookgDt></Ntry>
<Ntry><Amt Ccy="EUR">99.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>PDNG</Sts><BookgDt><Dt>2024-01-06</Dt></BookgDt></Ntry>
</Stmt></BkToCstmrStmt></Document>"#;

    #[test]
    fn batch_entries_split_reversals_flip_pending_skipped() {
        let f = parse(DOC.as_bytes(), "t.xml").expect("parses");
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let t = &f.statements[0].transactions;
        let amounts: Vec<String> = t.iter().map(|t| t.amount.to_string()).collect();
        assert_eq!(amounts, vec!["-2.25", "-1.20", "10.00"]);
        assert_eq!(t[0].payee, "Bakery");
        assert_eq!(t[0].memo, "bread");
        assert_eq!(t[0].value_date, NaiveDate::from_ymd_opt(2024, 1, 3));
        assert_eq!(t[0].external_id.as_deref(), Some("R1#1"));
        assert_eq!(t[2].date, NaiveDate::from_ymd_opt(2024, 1, 5).expect("d"));
        assert_eq!(
            f.statements[0].account.as_deref(),
            Some("DE14740618130000033626")
        );
        assert!(f.warnings.iter().any(|w| w.contains("skipped 1")));
    }

    #[test]
    fn broken_xml_is_refused_with_its_line() {
        let err =
            parse(b"<Document><BkToCstmrStmt><Stmt>\n<Ntry></Stmt>", "b.xml").expect_err("refused");
        assert!(err.reason.contains("line"), "{err}");
    }

    /// An entry marked DBIT whose one transaction detail says CRDT is money out: the entry's
    /// amount takes the entry's sign (it was imported as +200,000).
    #[test]
    fn the_entry_amount_takes_the_entry_sign() {
        let doc = r#"<Document><BkToCstmrStmt><Stmt><Acct><Id><IBAN>X</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><Amt Ccy="EUR">200000.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2024-03-01</Dt></BookgDt>
<NtryDtls><TxDtls><CdtDbtInd>CRDT</CdtDbtInd><RltdPties><Cdtr><Nm>Builder</Nm></Cdtr></RltdPties></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2024-03-02</Dt></BookgDt>
<NtryDtls><TxDtls><CdtDbtInd>DBIT</CdtDbtInd></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>"#;
        let f = parse(doc.as_bytes(), "sign.xml").expect("parses");
        let t = &f.statements[0].transactions;
        let amounts: Vec<String> = t.iter().map(|t| t.amount.to_string()).collect();
        assert_eq!(amounts, vec!["-200000.00", "5.00"]);
    }

    /// CAMT.054 notifications may leave both dates out: the entry takes the notification's
    /// creation date, with a warning, and the file is read.
    #[test]
    fn an_undated_entry_takes_the_report_date_and_warns() {
        let doc = r#"<Document><BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>1</MsgId><CreDtTm>2024-05-06T08:00:00</CreDtTm></GrpHdr>
<Ntfctn><Acct><Id><IBAN>X</IBAN></Id></Acct>
<Ntry><Amt Ccy="EUR">7.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts></Ntry>
<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><ValDt><Dt>2024-05-01</Dt></ValDt></Ntry>
</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"#;
        let f = parse(doc.as_bytes(), "n.xml").expect("parses");
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let t = &f.statements[0].transactions;
        assert_eq!(t[0].date, NaiveDate::from_ymd_opt(2024, 5, 6).expect("d"));
        assert_eq!(t[1].date, NaiveDate::from_ymd_opt(2024, 5, 1).expect("d"));
        assert!(
            f.warnings
                .iter()
                .any(|w| w.contains("1 entries have neither")),
            "{:?}",
            f.warnings
        );
        // The report's own creation date wins over the group header's.
        let own = doc.replace(
            "<Ntfctn><Acct>",
            "<Ntfctn><CreDtTm>2024-05-07T00:00:00</CreDtTm><Acct>",
        );
        let f = parse(own.as_bytes(), "n.xml").expect("parses");
        assert_eq!(
            f.statements[0].transactions[0].date,
            NaiveDate::from_ymd_opt(2024, 5, 7).expect("d")
        );
    }

    /// Hostile entries: details whose amounts overflow, a detail of the other direction, an
    /// indicator that is neither CRDT nor DBIT, a negative amount: refused or kept whole,
    /// never a panic or a wrong sign.
    #[test]
    fn hostile_entries_are_refused_or_kept_whole() {
        let entry = |body: &str| {
            format!(
                "<Document><BkToCstmrStmt><Stmt><Acct><Id><IBAN>X</IBAN></Id></Acct>{body}</Stmt></BkToCstmrStmt></Document>"
            )
        };
        let max = "79228162514264337593543950335";
        let doc = entry(&format!(
            "<Ntry><Amt Ccy=\"EUR\">1.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><BookgDt><Dt>2024-01-01</Dt></BookgDt><NtryDtls><TxDtls><Amt>{max}</Amt></TxDtls><TxDtls><Amt>{max}</Amt></TxDtls></NtryDtls></Ntry>"
        ));
        let f = parse(doc.as_bytes(), "o.xml").expect("parses");
        let amounts: Vec<String> = f.statements[0]
            .transactions
            .iter()
            .map(|t| t.amount.to_string())
            .collect();
        assert_eq!(amounts, vec!["-1.00"], "not split: the entry whole");
        // 10.00 DBIT as 7.00 DBIT + 3.00 CRDT does not add up to -10.00: kept whole.
        let doc = entry(
            "<Ntry><Amt Ccy=\"EUR\">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><BookgDt><Dt>2024-01-01</Dt></BookgDt><NtryDtls><TxDtls><Amt>7.00</Amt><CdtDbtInd>DBIT</CdtDbtInd></TxDtls><TxDtls><Amt>3.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></TxDtls></NtryDtls></Ntry>",
        );
        let f = parse(doc.as_bytes(), "m.xml").expect("parses");
        let amounts: Vec<String> = f.statements[0]
            .transactions
            .iter()
            .map(|t| t.amount.to_string())
            .collect();
        assert_eq!(amounts, vec!["-10.00"]);
        for (bad, said) in [
            (
                "<Amt>8.00</Amt><CdtDbtInd>dbit</CdtDbtInd>",
                "neither CRDT nor DBIT",
            ),
            (
                "<Amt>8.00</Amt><CdtDbtInd>XXXX</CdtDbtInd>",
                "neither CRDT nor DBIT",
            ),
            ("<Amt>-8.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>", "negative"),
        ] {
            let doc = entry(&format!(
                "<Ntry>{bad}<BookgDt><Dt>2024-01-01</Dt></BookgDt></Ntry>"
            ));
            let f = parse(doc.as_bytes(), "b.xml").expect("parses");
            assert!(f.statements[0].transactions.is_empty(), "{bad}");
            assert!(f.errors[0].reason.contains(said), "{:?}", f.errors);
        }
        // RvslInd written 1 is a reversal too.
        let doc = entry(
            "<Ntry><Amt>5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><RvslInd>1</RvslInd><BookgDt><Dt>2024-01-01</Dt></BookgDt></Ntry>",
        );
        let f = parse(doc.as_bytes(), "r.xml").expect("parses");
        assert_eq!(f.statements[0].transactions[0].amount.to_string(), "-5.00");
    }
}
