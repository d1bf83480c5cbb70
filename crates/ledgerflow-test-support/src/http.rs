//! Small HTTP peers for tests, on 127.0.0.1: a webhook receiver that records what is POSTed to
//! it, the moto S3 server (a real S3-compatible service from PyPI), and a faulty S3 stand-in
//! that answers like a bucket but keeps nothing or a cut copy of each upload.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request as read off the socket.
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

fn read_request(stream: &mut TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Request { method, path, body })
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// Serves each connection on its own thread with `handle`, forever (the test process ends it).
fn serve(handle: impl Fn(Request, &mut TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let handle = handle.clone();
            std::thread::spawn(move || {
                if let Ok(req) = read_request(&mut stream) {
                    handle(req, &mut stream);
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Records the JSON bodies POSTed to it.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    received: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let url = serve(move |req, stream| {
            if req.method == "POST" {
                let v = serde_json::from_slice(&req.body)
                    .unwrap_or_else(|_| serde_json::Value::String("not JSON".into()));
                sink.lock().expect("webhook lock").push(v);
                respond(stream, "200 OK", &[], b"");
            } else {
                respond(stream, "405 Method Not Allowed", &[], b"");
            }
        });
        Webhook {
            url: format!("{url}/hook"),
            received,
        }
    }

    /// What has arrived so far.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.received.lock().expect("webhook lock").clone()
    }

    /// The `event` fields received so far.
    pub fn events(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter_map(|v| v["event"].as_str().map(str::to_string))
            .collect()
    }
}

/// How the faulty S3 stand-in damages what it is given.
#[derive(Clone, Copy, Debug)]
pub enum Damage {
    /// Answers 200 and keeps 0 bytes.
    Empty,
    /// Answers 200 and keeps the first half.
    Truncate,
}

/// An S3 look-alike that answers every upload with 200 but keeps an empty or cut object: the
/// cloud folder that "succeeds" while storing nothing.
pub struct FaultyS3 {
    pub endpoint: String,
    objects: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl FaultyS3 {
    pub fn start(damage: Damage) -> FaultyS3 {
        let objects: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let store = objects.clone();
        let endpoint = serve(move |req, stream| {
            let key = req.path.split('?').next().unwrap_or("").to_string();
            let mut objects = store.lock().expect("objects lock");
            let meta = |len: usize| {
                vec![
                    ("Content-Length", len.to_string()),
                    ("ETag", "\"0\"".to_string()),
                    ("Last-Modified", "Fri, 27 Nov 2026 00:00:00 GMT".to_string()),
                ]
            };
            match req.method.as_str() {
                "PUT" => {
                    let kept = match damage {
                        Damage::Empty => Vec::new(),
                        Damage::Truncate => req.body[..req.body.len() / 2].to_vec(),
                    };
                    objects.insert(key, kept);
                    respond(stream, "200 OK", &[("ETag", "\"0\"".into())], b"");
                }
                "HEAD" | "GET" => match objects.get(&key) {
                    Some(bytes) if req.method == "GET" => {
                        respond(stream, "200 OK", &meta(bytes.len()), bytes)
                    }
                    Some(bytes) => {
                        let mut s = stream.try_clone().expect("clone");
                        let mut head = "HTTP/1.1 200 OK\r\nConnection: close\r\n".to_string();
                        for (k, v) in meta(bytes.len()) {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                        head.push_str("\r\n");
                        let _ = s.write_all(head.as_bytes());
                    }
                    None => respond(stream, "404 Not Found", &[], b""),
                },
                "DELETE" => {
                    objects.remove(&key);
                    respond(stream, "204 No Content", &[], b"");
                }
                // DeleteObjects: <Delete><Object><Key>k</Key></Object>…</Delete>
                "POST" if req.path.ends_with("?delete") => {
                    let body = String::from_utf8_lossy(&req.body).to_string();
                    let mut deleted = String::new();
                    for part in body.split("<Key>").skip(1) {
                        let k = part.split("</Key>").next().unwrap_or("");
                        objects.remove(&format!("{key}/{k}"));
                        deleted.push_str(&format!("<Deleted><Key>{k}</Key></Deleted>"));
                    }
                    let xml = format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult>{deleted}</DeleteResult>"
                    );
                    respond(
                        stream,
                        "200 OK",
                        &[("Content-Type", "application/xml".into())],
                        xml.as_bytes(),
                    );
                }
                _ => respond(stream, "501 Not Implemented", &[], b""),
            }
        });
        FaultyS3 { endpoint, objects }
    }

    /// The objects it holds now (key → size).
    pub fn objects(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = self
            .objects
            .lock()
            .expect("objects lock")
            .iter()
            .map(|(k, b)| (k.clone(), b.len()))
            .collect();
        v.sort();
        v
    }
}

/// The moto S3 server (`moto_server`, from PyPI: `pip install 'moto[server]'`) on a free
/// loopback port, stopped on drop.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts it, or returns `None` with a loud message when `moto_server` is not installed
    /// (with `CI=true`, panics instead: CI never skips it).
    pub fn start() -> Option<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                let msg = format!(
                    "moto_server cannot run ({e}): the S3 tests need it (pip install 'moto[server]')"
                );
                if crate::in_ci() {
                    panic!("{msg}");
                }
                eprintln!("SKIPPED: {msg}");
                return None;
            }
        };
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// Creates a bucket (moto accepts unsigned requests).
    pub fn create_bucket(&self, name: &str) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect to moto");
        let req = format!(
            "PUT /{name} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).expect("send");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// The object's bytes, fetched by another S3 client (boto3, installed with moto).
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let script = "import sys, boto3\n\
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', \
aws_access_key_id='test', aws_secret_access_key='test')\n\
try:\n    body = s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])['Body'].read()\n\
except s3.exceptions.NoSuchKey:\n    sys.exit(3)\n\
sys.stdout.buffer.write(body)\n";
        let out = Command::new("python3")
            .args(["-c", script, &self.endpoint, bucket, key])
            .output()
            .expect("python3 with boto3");
        match out.status.code() {
            Some(0) => Some(out.stdout),
            Some(3) => None,
            _ => panic!(
                "boto3 could not read s3://{bucket}/{key}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
