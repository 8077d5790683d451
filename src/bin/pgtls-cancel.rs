//! `pgtls-cancel`: the libpq side of a case's cancel action.
//!
//! psql cannot do it: its Ctrl-C handler uses the legacy `PQcancel`, which never encrypts.
//! This helper loads `LIBPQ` (the library psql links, as the dynamic loader resolved it for the
//! build under test), connects with `CONNINFO` (the attempt's service, as psql does),
//! runs `QUERY` and cancels it through libpq 17's `PQcancelCreate` / `PQcancelBlocking`, which
//! send the cancel request with the connection's own TLS settings. It sends a request every
//! `INTERVAL_MS` while the query runs, at most `MAX` of them, and prints what happened, a line
//! each, for the harness (harness/src/client/libpq.rs):
//!
//! ```text
//! libpq 180001
//! connected
//! request ok
//! result 57014
//! ```
//!
//! `connect-failed MESSAGE`, `request failed MESSAGE`, `gave-up` and `error MESSAGE` report
//! the other ways; messages are on one line. libpq is loaded at run time so that one binary
//! serves every build, and a libpq before 17 is reported (`error …`), not a link failure.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::process::ExitCode;

const USAGE: &str = "usage: pgtls-cancel LIBPQ CONNINFO QUERY INTERVAL_MS MAX";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [libpq, conninfo, query, interval, max] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (Ok(interval), Ok(max)) = (interval.parse::<c_int>(), max.parse::<u32>()) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match Libpq::load(libpq).and_then(|pq| cancel(&pq, conninfo, query, interval, max)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

fn one_line(s: &str) -> String {
    s.trim().replace('\n', " ")
}

/// The libpq functions the helper calls, resolved with `dlsym`.
struct Libpq {
    lib_version: unsafe extern "C" fn() -> c_int,
    connectdb: unsafe extern "C" fn(*const c_char) -> *mut c_void,
    status: unsafe extern "C" fn(*const c_void) -> c_int,
    error_message: unsafe extern "C" fn(*const c_void) -> *const c_char,
    send_query: unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int,
    socket: unsafe extern "C" fn(*const c_void) -> c_int,
    consume_input: unsafe extern "C" fn(*mut c_void) -> c_int,
    is_busy: unsafe extern "C" fn(*mut c_void) -> c_int,
    get_result: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    result_error_field: unsafe extern "C" fn(*const c_void, c_int) -> *const c_char,
    clear: unsafe extern "C" fn(*mut c_void),
    finish: unsafe extern "C" fn(*mut c_void),
    cancel_create: Option<unsafe extern "C" fn(*mut c_void) -> *mut c_void>,
    cancel_blocking: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    cancel_error_message: Option<unsafe extern "C" fn(*const c_void) -> *const c_char>,
    cancel_reset: Option<unsafe extern "C" fn(*mut c_void)>,
    cancel_finish: Option<unsafe extern "C" fn(*mut c_void)>,
}

/// `PG_DIAG_SQLSTATE` (postgres_ext.h).
const PG_DIAG_SQLSTATE: c_int = b'C' as c_int;
/// `CONNECTION_OK`.
const CONNECTION_OK: c_int = 0;

impl Libpq {
    fn load(path: &str) -> Result<Libpq, String> {
        let name = CString::new(path).map_err(|_| "LIBPQ contains NUL")?;
        // SAFETY: dlopen with a valid C string; the handle stays open for the process's life.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(format!("failed to load {path}: {}", dl_error()));
        }
        let sym = |name: &CStr| {
            // SAFETY: dlsym on an open handle.
            let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
            (!p.is_null()).then_some(p)
        };
        macro_rules! required {
            ($name:literal: $ty:ty) => {
                match sym($name) {
                    // SAFETY: the symbol is libpq's function of that name, whose C signature
                    // `$ty` spells (libpq-fe.h).
                    Some(p) => unsafe { std::mem::transmute::<*mut c_void, $ty>(p) },
                    None => return Err(format!("libpq has no {}", $name.to_string_lossy())),
                }
            };
        }
        macro_rules! optional {
            ($name:literal: $ty:ty) => {
                // SAFETY: as for `required!`.
                sym($name).map(|p| unsafe { std::mem::transmute::<*mut c_void, $ty>(p) })
            };
        }
        Ok(Libpq {
            lib_version: required!(c"PQlibVersion": unsafe extern "C" fn() -> c_int),
            connectdb: required!(c"PQconnectdb": unsafe extern "C" fn(*const c_char) -> *mut c_void),
            status: required!(c"PQstatus": unsafe extern "C" fn(*const c_void) -> c_int),
            error_message: required!(c"PQerrorMessage": unsafe extern "C" fn(*const c_void) -> *const c_char),
            send_query: required!(c"PQsendQuery": unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int),
            socket: required!(c"PQsocket": unsafe extern "C" fn(*const c_void) -> c_int),
            consume_input: required!(c"PQconsumeInput": unsafe extern "C" fn(*mut c_void) -> c_int),
            is_busy: required!(c"PQisBusy": unsafe extern "C" fn(*mut c_void) -> c_int),
            get_result: required!(c"PQgetResult": unsafe extern "C" fn(*mut c_void) -> *mut c_void),
            result_error_field: required!(c"PQresultErrorField": unsafe extern "C" fn(*const c_void, c_int) -> *const c_char),
            clear: required!(c"PQclear": unsafe extern "C" fn(*mut c_void)),
            finish: required!(c"PQfinish": unsafe extern "C" fn(*mut c_void)),
            cancel_create: optional!(c"PQcancelCreate": unsafe extern "C" fn(*mut c_void) -> *mut c_void),
            cancel_blocking: optional!(c"PQcancelBlocking": unsafe extern "C" fn(*mut c_void) -> c_int),
            cancel_error_message: optional!(c"PQcancelErrorMessage": unsafe extern "C" fn(*const c_void) -> *const c_char),
            cancel_reset: optional!(c"PQcancelReset": unsafe extern "C" fn(*mut c_void)),
            cancel_finish: optional!(c"PQcancelFinish": unsafe extern "C" fn(*mut c_void)),
        })
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a C string valid until the next dl call.
    let e = unsafe { libc::dlerror() };
    if e.is_null() { "unknown error".into() } else { text(e) }
}

fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: libpq returns NUL-terminated strings that live as long as their object.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn cancel(pq: &Libpq, conninfo: &str, query: &str, interval: c_int, max: u32) -> Result<(), String> {
    // SAFETY (this function): every call passes libpq's own objects, created here and freed
    // once, to the functions of the library that made them.
    println!("libpq {}", unsafe { (pq.lib_version)() });
    let (Some(create), Some(blocking), Some(message), Some(reset), Some(finish_cancel)) =
        (pq.cancel_create, pq.cancel_blocking, pq.cancel_error_message, pq.cancel_reset, pq.cancel_finish)
    else {
        return Err("this libpq has no PQcancelCreate (libpq 17+)".into());
    };
    let conninfo = CString::new(conninfo).map_err(|_| "CONNINFO contains NUL")?;
    let query = CString::new(query).map_err(|_| "QUERY contains NUL")?;
    let conn = unsafe { (pq.connectdb)(conninfo.as_ptr()) };
    if conn.is_null() {
        return Err("PQconnectdb returned NULL".into());
    }
    if unsafe { (pq.status)(conn) } != CONNECTION_OK {
        println!("connect-failed {}", one_line(&text(unsafe { (pq.error_message)(conn) })));
        unsafe { (pq.finish)(conn) };
        return Ok(());
    }
    println!("connected");
    if unsafe { (pq.send_query)(conn, query.as_ptr()) } != 1 {
        let e = text(unsafe { (pq.error_message)(conn) });
        unsafe { (pq.finish)(conn) };
        return Err(format!("PQsendQuery failed: {}", one_line(&e)));
    }
    let cancel = unsafe { create(conn) };
    let mut requests = 0;
    let finished = loop {
        let mut fd = libc::pollfd { fd: unsafe { (pq.socket)(conn) }, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut fd, 1, interval) };
        if unsafe { (pq.consume_input)(conn) } == 0 || unsafe { (pq.is_busy)(conn) } == 0 {
            break true;
        }
        if requests == max {
            break false;
        }
        requests += 1;
        if unsafe { blocking(cancel) } == 1 {
            println!("request ok");
        } else {
            println!("request failed {}", one_line(&text(unsafe { message(cancel) })));
        }
        unsafe { reset(cancel) };
    };
    unsafe { finish_cancel(cancel) };
    if !finished {
        println!("gave-up");
        unsafe { (pq.finish)(conn) };
        return Ok(());
    }
    let mut sqlstate = None;
    loop {
        let res = unsafe { (pq.get_result)(conn) };
        if res.is_null() {
            break;
        }
        let code = text(unsafe { (pq.result_error_field)(res, PG_DIAG_SQLSTATE) });
        if !code.is_empty() {
            sqlstate = Some(code);
        }
        unsafe { (pq.clear)(res) };
    }
    println!("result {}", sqlstate.as_deref().unwrap_or("-"));
    unsafe { (pq.finish)(conn) };
    Ok(())
}
