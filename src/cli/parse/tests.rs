//! Unit tests of the parsers.

use super::flags::parse_flags;
use super::numbers::parse_java_int;
use super::*;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn cmd(line: &str) -> Result<Command, CliError> {
    parse_command(&tokenize(line))
}

#[test]
fn options_defaults_and_flags() {
    let o = parse_options(&[]).unwrap();
    assert_eq!(o.server, "127.0.0.1:2181");
    assert_eq!(o.timeout_ms, 30000);
    assert!(!o.readonly);
    assert_eq!(o.command, None);

    let o = parse_options(&s(&[
        "-server",
        "h:1,h:2/app",
        "-timeout",
        "5000",
        "-r",
        "ls",
        "-s",
        "/",
    ]))
    .unwrap();
    assert_eq!(o.server, "h:1,h:2/app");
    assert_eq!(o.timeout_ms, 5000);
    assert!(o.readonly);
    assert_eq!(o.command, Some(s(&["ls", "-s", "/"])));
}

#[test]
fn options_errors_and_unknown_flags() {
    assert_eq!(
        parse_options(&s(&["-server"])).unwrap_err(),
        "Error: no argument found for option -server"
    );
    assert!(parse_options(&s(&["-timeout", "abc"])).is_err());
    let o = parse_options(&s(&[
        "-foo",
        "-waitforconnection",
        "-client-configuration",
        "x",
        "get",
        "/a",
    ]))
    .unwrap();
    assert!(o.wait_for_connection);
    assert_eq!(o.command, Some(s(&["get", "/a"])));
    assert!(parse_options(&s(&["--help"])).unwrap().help);
}

/// `--server` (as every other keeper subcommand spells its flags) means `-server`, and
/// `--server=HOST` works too; the host is not taken for a command.
#[test]
fn double_dash_flags_are_the_single_dash_ones() {
    let o = parse_options(&s(&["--server", "h:1", "--timeout=5000", "ls", "/"])).unwrap();
    assert_eq!(o.server, "h:1");
    assert_eq!(o.timeout_ms, 5000);
    assert_eq!(o.command, Some(s(&["ls", "/"])));
    let o = parse_options(&s(&["--server=h:2", "-r"])).unwrap();
    assert_eq!(o.server, "h:2");
    assert!(o.readonly);
    assert_eq!(
        parse_options(&s(&["--server"])).unwrap_err(),
        "Error: no argument found for option -server"
    );
}

#[test]
fn tokenizer_matches_zkcli() {
    assert_eq!(tokenize("  ls   -s /a  "), s(&["ls", "-s", "/a"]));
    assert_eq!(
        tokenize("set /a \"hello world\""),
        s(&["set", "/a", "hello world"])
    );
    assert_eq!(tokenize("set /a 'it is'"), s(&["set", "/a", "it is"]));
    assert_eq!(tokenize("set /a \"\""), s(&["set", "/a", ""]));
    assert_eq!(
        tokenize("set /a a\"b c\""),
        s(&["set", "/a", "a\"b", "c\""])
    );
    assert_eq!(tokenize("set /a \"unclosed"), s(&["set", "/a", "unclosed"]));
    assert_eq!(tokenize(""), Vec::<String>::new());
}

#[test]
fn create_flags() {
    assert_eq!(
        cmd("create /a").unwrap(),
        Command::Create {
            path: "/a".into(),
            data: None,
            acl: None,
            ephemeral: false,
            sequential: false,
            container: false,
            ttl: None
        }
    );
    assert_eq!(
        cmd("create -s -e /a data world:anyone:r").unwrap(),
        Command::Create {
            path: "/a".into(),
            data: Some("data".into()),
            acl: Some("world:anyone:r".into()),
            ephemeral: true,
            sequential: true,
            container: false,
            ttl: None
        }
    );
    assert!(matches!(
        cmd("create -se /a").unwrap(),
        Command::Create {
            ephemeral: true,
            sequential: true,
            ..
        }
    ));
    assert!(matches!(
        cmd("create -c /a").unwrap(),
        Command::Create {
            container: true,
            ..
        }
    ));
    assert!(matches!(
        cmd("create -t 1000 /a").unwrap(),
        Command::Create {
            ttl: Some(1000),
            ..
        }
    ));
    assert!(matches!(
        cmd("create -t1000 -s /a").unwrap(),
        Command::Create {
            ttl: Some(1000),
            sequential: true,
            ..
        }
    ));
    assert!(matches!(
        cmd("create /a x -e").unwrap(),
        Command::Create {
            ephemeral: true,
            ..
        }
    ));
}

#[test]
fn create_errors() {
    assert_eq!(
        cmd("create").unwrap_err(),
        CliError::Parse("create [-s] [-e] [-c] [-t ttl] path [data] [acl]".into())
    );
    assert_eq!(
        cmd("create -c -e /a").unwrap_err().to_string(),
        "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."
    );
    assert_eq!(
        cmd("create -t x /a").unwrap_err().to_string(),
        "-t argument must be a long value"
    );
    assert_eq!(
        cmd("create -t 5 -e /a").unwrap_err().to_string(),
        "TTLs cannot be used with Ephemeral znodes"
    );
    assert_eq!(
        cmd("create -t 5 -c /a").unwrap_err().to_string(),
        "TTLs cannot be used with Container znodes"
    );
    assert_eq!(
        cmd("create -t 0 /a").unwrap_err().to_string(),
        "ttl must be positive and cannot be larger than: 1099511627775"
    );
    assert_eq!(
        cmd("create -x /a").unwrap_err().to_string(),
        "Unrecognized option: -x"
    );
    assert_eq!(
        cmd("create /a -t").unwrap_err().to_string(),
        "Missing argument for option: t"
    );
}

#[test]
fn ls_get_stat_flags() {
    assert_eq!(
        cmd("ls -s -w -R /a").unwrap(),
        Command::Ls {
            path: "/a".into(),
            stat: true,
            watch: true,
            recursive: true
        }
    );
    assert_eq!(
        cmd("ls / -s").unwrap(),
        Command::Ls {
            path: "/".into(),
            stat: true,
            watch: false,
            recursive: false
        }
    );
    assert_eq!(
        cmd("ls /a true").unwrap(),
        Command::Ls {
            path: "/a".into(),
            stat: false,
            watch: true,
            recursive: false
        }
    );
    assert_eq!(
        cmd("ls").unwrap_err(),
        CliError::Malformed("ls [-s] [-w] [-R] path".into())
    );
    assert_eq!(
        cmd("get -s -w /a").unwrap(),
        Command::Get {
            path: "/a".into(),
            stat: true,
            watch: true
        }
    );
    assert_eq!(
        cmd("get /a").unwrap(),
        Command::Get {
            path: "/a".into(),
            stat: false,
            watch: false
        }
    );
    assert_eq!(
        cmd("get").unwrap_err(),
        CliError::Parse("get [-s] [-w] path".into())
    );
    assert_eq!(
        cmd("stat -w /a").unwrap(),
        Command::Stat {
            path: "/a".into(),
            watch: true
        }
    );
    assert_eq!(
        cmd("stat /a").unwrap(),
        Command::Stat {
            path: "/a".into(),
            watch: false
        }
    );
    assert_eq!(
        cmd("stat").unwrap_err(),
        CliError::Parse("stat [-w] path".into())
    );
}

#[test]
fn set_delete_flags() {
    assert_eq!(
        cmd("set -s -v 3 /a data").unwrap(),
        Command::Set {
            path: "/a".into(),
            data: "data".into(),
            version: Some(3),
            stat: true
        }
    );
    assert_eq!(
        cmd("set /a \"two words\"").unwrap(),
        Command::Set {
            path: "/a".into(),
            data: "two words".into(),
            version: None,
            stat: false
        }
    );
    assert_eq!(
        cmd("set /a").unwrap_err(),
        CliError::Parse("set [-s] [-v version] path data".into())
    );
    assert_eq!(
        cmd("set /a -1").unwrap_err().to_string(),
        "Unrecognized option: -1"
    );
    assert_eq!(
        cmd("set -v x /a d").unwrap_err().to_string(),
        "java.lang.NumberFormatException: For input string: \"x\""
    );
    assert_eq!(
        cmd("delete -v 2 /a").unwrap(),
        Command::Delete {
            path: "/a".into(),
            version: Some(2)
        }
    );
    assert_eq!(
        cmd("delete /a").unwrap(),
        Command::Delete {
            path: "/a".into(),
            version: None
        }
    );
    assert_eq!(
        cmd("delete").unwrap_err(),
        CliError::Parse("delete [-v version] path".into())
    );
    assert_eq!(
        cmd("deleteall /a").unwrap(),
        Command::DeleteAll {
            path: "/a".into(),
            batch: 1000
        }
    );
    assert_eq!(
        cmd("deleteall /a -b 10").unwrap(),
        Command::DeleteAll {
            path: "/a".into(),
            batch: 10
        }
    );
    assert_eq!(
        cmd("deleteall /a -b x").unwrap_err().to_string(),
        "-b argument must be an int value"
    );
    assert_eq!(
        cmd("deleteall").unwrap_err(),
        CliError::Parse("deleteall path [-b batch size]".into())
    );
}

#[test]
fn acl_commands() {
    assert_eq!(
        cmd("getAcl -s /a").unwrap(),
        Command::GetAcl {
            path: "/a".into(),
            stat: true
        }
    );
    assert_eq!(
        cmd("getAcl").unwrap_err(),
        CliError::Parse("getAcl [-s] path".into())
    );
    assert_eq!(
        cmd("setAcl -s -v 1 -R /a world:anyone:r").unwrap(),
        Command::SetAcl {
            path: "/a".into(),
            acl: "world:anyone:r".into(),
            version: Some(1),
            stat: true,
            recursive: true
        }
    );
    assert_eq!(
        cmd("setAcl /a").unwrap_err(),
        CliError::Parse("setAcl [-s] [-v version] [-R] path acl".into())
    );
    assert_eq!(
        cmd("addauth digest u:p").unwrap(),
        Command::AddAuth {
            scheme: "digest".into(),
            auth: Some("u:p".into())
        }
    );
    assert_eq!(
        cmd("addauth foo").unwrap(),
        Command::AddAuth {
            scheme: "foo".into(),
            auth: None
        }
    );
    assert_eq!(
        cmd("addauth").unwrap_err(),
        CliError::Parse("addauth scheme auth".into())
    );
}

#[test]
fn misc_commands() {
    assert_eq!(cmd("sync /a").unwrap(), Command::Sync { path: "/a".into() });
    assert_eq!(
        cmd("sync").unwrap_err(),
        CliError::Parse("sync path".into())
    );
    assert_eq!(
        cmd("getEphemerals").unwrap(),
        Command::GetEphemerals { path: None }
    );
    assert_eq!(
        cmd("getEphemerals /a").unwrap(),
        Command::GetEphemerals {
            path: Some("/a".into())
        }
    );
    assert_eq!(
        cmd("getAllChildrenNumber /a").unwrap(),
        Command::GetAllChildrenNumber { path: "/a".into() }
    );
    assert_eq!(
        cmd("getAllChildrenNumber").unwrap_err(),
        CliError::Malformed("getAllChildrenNumber path".into())
    );
    assert_eq!(cmd("whoami").unwrap(), Command::WhoAmI);
    assert_eq!(cmd("version").unwrap(), Command::Version);
    assert_eq!(
        cmd("connect h:1").unwrap(),
        Command::Connect {
            host: Some("h:1".into())
        }
    );
    assert_eq!(cmd("connect").unwrap(), Command::Connect { host: None });
    assert_eq!(cmd("close").unwrap(), Command::Close);
    assert_eq!(cmd("quit").unwrap(), Command::Quit);
    assert_eq!(cmd("help").unwrap(), Command::Help);
    assert_eq!(cmd("history").unwrap(), Command::History);
    assert_eq!(cmd("redo 3").unwrap(), Command::Redo { index: 3 });
    assert_eq!(cmd("redo 0x10").unwrap(), Command::Redo { index: 16 });
    assert_eq!(
        cmd("printwatches").unwrap(),
        Command::PrintWatches { on: None }
    );
    assert_eq!(
        cmd("printwatches on").unwrap(),
        Command::PrintWatches { on: Some(true) }
    );
    assert_eq!(
        cmd("printwatches off").unwrap(),
        Command::PrintWatches { on: Some(false) }
    );
    let e = cmd("foo /a").unwrap_err();
    assert_eq!(e.to_string(), "Command not found: Command not found foo");
    assert_eq!(e.exit_code(), 127);
    assert_eq!(
        parse_command(&[]).unwrap_err(),
        CliError::Malformed("No command entered".into())
    );
}

#[test]
fn watch_commands() {
    assert_eq!(
        cmd("addWatch /a").unwrap(),
        Command::AddWatch {
            path: "/a".into(),
            mode: AddWatchMode::PersistentRecursive
        }
    );
    assert_eq!(
        cmd("addWatch -m persistent /a").unwrap(),
        Command::AddWatch {
            path: "/a".into(),
            mode: AddWatchMode::Persistent
        }
    );
    assert_eq!(
        cmd("addWatch -m PERSISTENT_RECURSIVE /a").unwrap(),
        Command::AddWatch {
            path: "/a".into(),
            mode: AddWatchMode::PersistentRecursive
        }
    );
    assert_eq!(
        cmd("addWatch -m persistentRecursive /a").unwrap(),
        Command::AddWatch {
            path: "/a".into(),
            mode: AddWatchMode::PersistentRecursive
        }
    );
    assert!(matches!(
        cmd("addWatch -m bogus /a"),
        Err(CliError::Parse(_))
    ));
    assert!(matches!(cmd("addWatch /a /b"), Err(CliError::Parse(_))));
    assert_eq!(
        cmd("removewatches /a").unwrap(),
        Command::RemoveWatches {
            path: "/a".into(),
            kind: WatcherType::Any,
            local: false
        }
    );
    assert_eq!(
        cmd("removewatches /a -c -l").unwrap(),
        Command::RemoveWatches {
            path: "/a".into(),
            kind: WatcherType::Children,
            local: true
        }
    );
    assert_eq!(
        cmd("removewatches -d /a").unwrap(),
        Command::RemoveWatches {
            path: "/a".into(),
            kind: WatcherType::Data,
            local: false
        }
    );
    assert_eq!(
        cmd("removewatches").unwrap_err(),
        CliError::Parse("removewatches path [-c|-d|-a] [-l]".into())
    );
}

#[test]
fn option_parser_details() {
    let p = parse_flags(&s(&["x", "--", "-s", "-"]), &[('s', false)]).unwrap();
    assert!(!p.has('s'));
    assert_eq!(p.args, s(&["x", "-s", "-"]));
    let p = parse_flags(&s(&["x", "-v=7", "a"]), &[('v', true)]).unwrap();
    assert_eq!(p.value('v'), Some("7"));
    let p = parse_flags(&s(&["x", "-sv", "9"]), &[('s', false), ('v', true)]).unwrap();
    assert!(p.has('s'));
    assert_eq!(p.value('v'), Some("9"));
    assert!(parse_flags(&s(&["x", "-v", "-s"]), &[('s', false), ('v', true)]).is_err());
    assert!(parse_flags(&s(&["x", "--long"]), &[]).is_err());
}

#[test]
fn path_validation() {
    assert!(validate_path("/", false).is_ok());
    assert!(validate_path("/a/b", false).is_ok());
    assert!(validate_path("/a/", true).is_ok());
    assert_eq!(
        validate_path("", false).unwrap_err(),
        "Path length must be > 0"
    );
    assert_eq!(
        validate_path("a", false).unwrap_err(),
        "Path must start with / character"
    );
    assert_eq!(
        validate_path("/a/", false).unwrap_err(),
        "Path must not end with / character"
    );
    assert_eq!(
        validate_path("/a//b", false).unwrap_err(),
        "Invalid path string \"/a//b\" caused by empty node name specified @3"
    );
    assert_eq!(
        validate_path("/a/./b", false).unwrap_err(),
        "Invalid path string \"/a/./b\" caused by relative paths not allowed @3"
    );
    assert_eq!(
        validate_path("/a/..", false).unwrap_err(),
        "Invalid path string \"/a/..\" caused by relative paths not allowed @4"
    );
    assert!(validate_path("/a/..b", false).is_ok());
    assert!(validate_path("/a.b", false).is_ok());
    assert_eq!(
        validate_path("/a\u{1}", false).unwrap_err(),
        "Invalid path string \"/a\u{1}\" caused by invalid character @2"
    );
}

#[test]
fn java_int_decode() {
    assert_eq!(parse_java_int("10"), Some(10));
    assert_eq!(parse_java_int("-3"), Some(-3));
    assert_eq!(parse_java_int("0x1f"), Some(31));
    assert_eq!(parse_java_int("010"), Some(8));
    assert_eq!(parse_java_int("x"), None);
}

#[test]
fn usage_lists_commands() {
    let u = usage_text();
    assert!(u.starts_with("ZooKeeper -server host:port"));
    assert!(u.contains("\tls [-s] [-w] [-R] path\n"));
    assert!(u.contains("\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]\n"));
    assert_eq!(usage_of("sync"), "sync path");
}
