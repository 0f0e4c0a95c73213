"""
Tests for L{twisted_proxy.config}.
"""

from __future__ import annotations

import os
import textwrap

from hypothesis import given
from hypothesis import strategies as st
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from twisted_proxy.config import (
    ConfigError,
    ProxyConfig,
    ProxySettings,
    load_config,
    parse_list,
    read_config_text,
)

_MINIMAL = """
[pipeline:main]
pipeline = proxy-server

[app:proxy-server]
use = egg:swift#proxy
"""


class ConfigFileMixin:
    """
    Writes configuration files into a fresh directory.
    """

    def write_config(self, text: str, name: str = "proxy-server.conf",
                    directory: str | None = None) -> str:
        if directory is None:
            directory = self.mktemp()  # type: ignore[attr-defined]
        os.makedirs(directory, exist_ok=True)
        path = os.path.abspath(os.path.join(directory, name))
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(textwrap.dedent(text))
        return path


class LoadConfigTests(ConfigFileMixin, SynchronousTestCase):
    """
    Tests for L{load_config}.
    """

    def test_text(self) -> None:
        """
        Given the file's text, L{load_config} parses it as the text of the
        file at C{path} (which is not read): C{%(here)s} and the error
        messages name that file. L{read_config_text} reads the text.
        """
        path = self.write_config(_MINIMAL)
        self.assertEqual(read_config_text(path), _MINIMAL)
        config = load_config(path, _MINIMAL + "swift_dir = %(here)s/etc\n")
        self.assertEqual(config.path, path)
        self.assertEqual(config.app_section()["swift_dir"],
                         os.path.join(os.path.dirname(path), "etc"))
        error = self.assertRaises(ConfigError, load_config, path, "[pipeline:main\n")
        self.assertTrue(str(error).startswith(f"{path}: cannot read:"))
        missing = os.path.abspath(self.mktemp())
        self.assertEqual(load_config(missing, _MINIMAL).path, missing)
        error = self.assertRaises(ConfigError, read_config_text, missing)
        self.assertEqual(str(error), f"{missing}: configuration file not found")

    def test_sections(self) -> None:
        """
        Every section is read by its full name, merged over C{[DEFAULT]};
        the pipeline is the list of stage names.
        """
        path = self.write_config(
            """
            [DEFAULT]
            bind_port = 8080

            [pipeline:main]
            pipeline = catch_errors
                tempauth proxy-server

            [app:proxy-server]
            node_timeout = 3

            [filter:tempauth]
            user_admin_admin = admin .admin
            """
        )
        config = load_config(path)
        self.assertEqual(config.path, path)
        self.assertEqual(config.directory, os.path.dirname(path))
        self.assertEqual(config.pipeline, ["catch_errors", "tempauth", "proxy-server"])
        self.assertEqual(config.app_name, "proxy-server")
        self.assertEqual(config.defaults, {"bind_port": "8080"})
        self.assertEqual(
            config.app_section(), {"node_timeout": "3", "bind_port": "8080"}
        )
        self.assertEqual(
            config.filter_section("tempauth"),
            {"user_admin_admin": "admin .admin", "bind_port": "8080"},
        )
        self.assertIsNone(config.filter_section("catch_errors"))

    def test_optionCase(self) -> None:
        """
        Option names keep their case (tempauth's C{user_AUTH_test} and
        reseller prefixes depend on it).
        """
        path = self.write_config(
            _MINIMAL + "\n[filter:tempauth]\nSERVICE_require_group = service\n"
        )
        config = load_config(path)
        section = config.filter_section("tempauth")
        assert section is not None
        self.assertEqual(section["SERVICE_require_group"], "service")

    def test_defaultBeatsPlainSectionOption(self) -> None:
        """
        As in paste-deploy (and so in Swift), C{[DEFAULT]} beats a plain
        option of the same name in a section; only C{set} overrides it.
        """
        path = self.write_config(
            """
            [DEFAULT]
            node_timeout = 1

            [pipeline:main]
            pipeline = proxy-server

            [app:proxy-server]
            node_timeout = 2
            """
        )
        self.assertEqual(load_config(path).app_section()["node_timeout"], "1")

    def test_setOverridesDefault(self) -> None:
        """
        C{set NAME = value} in a section overrides C{NAME} from
        C{[DEFAULT]}, even though configparser lists the default after it.
        """
        path = self.write_config(
            """
            [DEFAULT]
            log_name = global

            [pipeline:main]
            pipeline = proxy-server

            [app:proxy-server]
            set log_name = local
            """
        )
        section = load_config(path).app_section()
        self.assertEqual(section["log_name"], "local")
        self.assertNotIn("set log_name", section)

    def test_setOverridesPlainInSection(self) -> None:
        """
        C{set NAME} beats a plain C{NAME} in the same section, whatever
        their order in the file.
        """
        path = self.write_config(
            """
            [pipeline:main]
            pipeline = proxy-server

            [app:proxy-server]
            set node_timeout = 7
            node_timeout = 3
            """
        )
        self.assertEqual(load_config(path).app_section()["node_timeout"], "7")

    def test_setInDefault(self) -> None:
        """
        C{set NAME = value} in C{[DEFAULT]} defines C{NAME}.
        """
        path = self.write_config("[DEFAULT]\nset log_name = g\n" + _MINIMAL)
        config = load_config(path)
        self.assertEqual(config.defaults, {"log_name": "g"})
        self.assertEqual(config.app_section()["log_name"], "g")

    def test_here(self) -> None:
        """
        C{%(here)s} is the directory holding the file, and C{%(name)s}
        interpolates other options; neither C{here} nor C{__file__} shows
        up as an option.
        """
        path = self.write_config(
            """
            [DEFAULT]
            base = %(here)s/swift

            [pipeline:main]
            pipeline = proxy-server

            [app:proxy-server]
            swift_dir = %(base)s/etc
            """
        )
        config = load_config(path)
        here = os.path.dirname(path)
        self.assertEqual(config.defaults, {"base": here + "/swift"})
        section = config.app_section()
        self.assertEqual(section["swift_dir"], here + "/swift/etc")
        self.assertNotIn("here", section)
        self.assertNotIn("__file__", section)

    def test_herePercent(self) -> None:
        """
        A C{%} in the file's directory does not break C{%(here)s}.
        """
        directory = os.path.join(self.mktemp(), "50%off")
        path = self.write_config(
            "[DEFAULT]\nswift_dir = %(here)s/etc\n" + _MINIMAL, directory=directory
        )
        config = load_config(path)
        self.assertEqual(
            config.app_section()["swift_dir"], os.path.abspath(directory) + "/etc"
        )

    def test_relativePath(self) -> None:
        """
        L{load_config} makes the path absolute.
        """
        path = self.write_config(_MINIMAL)
        relative = os.path.relpath(path)
        self.assertEqual(load_config(relative).path, path)

    def test_noPipelineSingleApp(self) -> None:
        """
        Without C{[pipeline:main]}, a file with one C{[app:NAME]} section is
        a pipeline of that application alone.
        """
        path = self.write_config("[app:proxy-server]\nuse = egg:swift#proxy\n")
        self.assertEqual(load_config(path).pipeline, ["proxy-server"])

    def assertOneLineError(self, path: str, *fragments: str) -> ConfigError:
        error = self.assertRaises(ConfigError, load_config, path)
        message = str(error)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith(os.path.abspath(path)), message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return error

    def test_missingFile(self) -> None:
        """
        A missing file is a L{ConfigError} naming it.
        """
        path = os.path.abspath(self.mktemp())
        self.assertOneLineError(path, "not found")

    def test_directory(self) -> None:
        """
        A directory is not a configuration file.
        """
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        self.assertOneLineError(path, "not found")

    def test_noSectionHeader(self) -> None:
        """
        A file that is not INI is a one-line L{ConfigError}.
        """
        path = self.write_config("pipeline = proxy-server\n")
        self.assertOneLineError(path, "cannot read")

    def test_parseError(self) -> None:
        """
        A malformed line is a one-line L{ConfigError}.
        """
        path = self.write_config(_MINIMAL + "\n[filter:x]\nnot an option line\n")
        self.assertOneLineError(path, "cannot read")

    def test_notUTF8(self) -> None:
        """
        A file that is not UTF-8 is a one-line L{ConfigError}.
        """
        path = self.write_config(_MINIMAL)
        with open(path, "ab") as handle:
            handle.write(b"\n[filter:x]\nkey = \xff\xfe\n")
        self.assertOneLineError(path, "cannot read")

    def test_badInterpolation(self) -> None:
        """
        A reference to an unknown option is a one-line L{ConfigError}
        naming the section and option.
        """
        path = self.write_config(_MINIMAL + "swift_dir = %(nowhere)s/etc\n")
        self.assertOneLineError(path, "[app:proxy-server] swift_dir:", "nowhere")

    def test_badPercent(self) -> None:
        """
        A lone C{%} is a one-line L{ConfigError} naming section and option.
        """
        path = self.write_config(_MINIMAL + "\n[filter:tempauth]\nuser_a_b = 100%\n")
        self.assertOneLineError(path, "[filter:tempauth] user_a_b:")

    def test_badInterpolationInDefault(self) -> None:
        """
        A bad reference in C{[DEFAULT]} names C{[DEFAULT]}.
        """
        path = self.write_config("[DEFAULT]\nx = %(y)s\n" + _MINIMAL)
        self.assertOneLineError(path, "[DEFAULT] x:")

    def test_emptyPipeline(self) -> None:
        """
        An empty C{pipeline} is an error.
        """
        path = self.write_config("[pipeline:main]\npipeline =\n[app:proxy-server]\n")
        self.assertOneLineError(path, "[pipeline:main] pipeline: empty")

    def test_missingPipeline(self) -> None:
        """
        No C{[pipeline:main]} and no single application is an error.
        """
        path = self.write_config("[app:a]\n[app:b]\n")
        self.assertOneLineError(path, "[pipeline:main] pipeline: missing")

    def test_pipelineWithoutApp(self) -> None:
        """
        A pipeline whose last stage has no C{[app:...]} section is an error
        naming it.
        """
        path = self.write_config("[pipeline:main]\npipeline = tempauth proxy\n")
        self.assertOneLineError(path, "'proxy'", "[app:proxy]")


class ProxyConfigTests(SynchronousTestCase):
    """
    Tests for L{ProxyConfig}.
    """

    def config(self) -> ProxyConfig:
        return ProxyConfig(
            "/etc/swift/proxy-server.conf",
            {},
            ["proxy-server"],
            {"app:proxy-server": {}},
        )

    def test_resolvePath(self) -> None:
        """
        Relative paths resolve against the file's directory; absolute ones
        are kept; C{~} is expanded.
        """
        config = self.config()
        self.assertEqual(config.resolve_path("rings"), "/etc/swift/rings")
        self.assertEqual(config.resolve_path("../x/./y"), "/etc/x/y")
        self.assertEqual(config.resolve_path("/srv/node"), "/srv/node")
        self.assertEqual(
            config.resolve_path("~/swift"), os.path.expanduser("~/swift")
        )

    def test_error(self) -> None:
        """
        L{ProxyConfig.error} names the file, section and option.
        """
        error = self.config().error("app:proxy-server", "workers", "bad")
        self.assertEqual(
            str(error), "/etc/swift/proxy-server.conf: [app:proxy-server] workers: bad"
        )


class HelperTests(SynchronousTestCase):
    """
    Tests for L{parse_list}.
    """

    def test_parseList(self) -> None:
        self.assertEqual(parse_list("a, b,c  d,,"), ["a", "b", "c", "d"])
        self.assertEqual(parse_list(""), [])


class ProxySettingsTests(ConfigFileMixin, SynchronousTestCase):
    """
    Tests for L{ProxySettings.from_section}.
    """

    def settings(self, options: str, default: str = "") -> ProxySettings:
        path = self.write_config(
            f"[DEFAULT]\n{default}\n" + _MINIMAL + options + "\n"
        )
        return ProxySettings.from_section(load_config(path))

    def test_defaults(self) -> None:
        """
        Without options, Swift's defaults apply.
        """
        settings = self.settings("")
        self.assertEqual(settings, ProxySettings())
        self.assertEqual(settings.bind_port, 8080)
        self.assertEqual(settings.node_timeout, 10.0)
        self.assertEqual(settings.swift_dir, "/etc/swift")
        self.assertEqual(settings.effective_recoverable_node_timeout, 10.0)
        self.assertEqual(settings.node_count(3), 6)

    def test_values(self) -> None:
        """
        Options are converted to their types.
        """
        settings = self.settings(
            "bind_port = 0\nnode_timeout = 2.5\nworkers = 4\n"
            "account_autocreate = yes\nsorting_method = Timing\n"
            "recoverable_node_timeout = 1\nrequest_node_count = 5\n",
            default="bind_ip = ::1",
        )
        self.assertEqual(settings.bind_ip, "::1")
        self.assertEqual(settings.bind_port, 0)
        self.assertEqual(settings.node_timeout, 2.5)
        self.assertEqual(settings.workers, 4)
        self.assertEqual(self.settings("").stale_worker_timeout, 86400)
        self.assertEqual(self.settings("stale_worker_timeout = 30\n").stale_worker_timeout, 30)
        self.assertIs(settings.account_autocreate, True)
        self.assertEqual(settings.sorting_method, "timing")
        self.assertEqual(settings.effective_recoverable_node_timeout, 1.0)
        self.assertEqual(settings.node_count(3), 5)

    def test_connectionOptions(self) -> None:
        """
        C{backlog}, C{max_clients} and C{keep_idle} default to Swift's
        4096, 1024 and 600, and take positive integers (C{keep_idle} at
        most 32767, as the kernel does).
        """
        settings = self.settings("")
        self.assertEqual((settings.backlog, settings.max_clients, settings.keep_idle),
                         (4096, 1024, 600))
        settings = self.settings("backlog = 10\nmax_clients = 5\nkeep_idle = 32767\n")
        self.assertEqual((settings.backlog, settings.max_clients, settings.keep_idle),
                         (10, 5, 32767))
        for bad in ("backlog = 0", "max_clients = -1", "keep_idle = 0", "keep_idle = 32768"):
            self.assertRaises(ConfigError, self.settings, bad + "\n")

    def test_zeroCopy(self) -> None:
        """
        C{zero_copy} (twisted-proxy's own) is on unless turned off.
        """
        self.assertTrue(self.settings("").zero_copy)
        self.assertFalse(self.settings("zero_copy = false\n").zero_copy)
        self.assertRaises(ConfigError, self.settings, "zero_copy = maybe\n")

    def test_booleans(self) -> None:
        """
        A boolean option takes Swift's true and false words in any case;
        the space around a value in the file is not part of it.
        """
        settings = self.settings(
            "account_autocreate =   On  \nallow_account_management = T\n"
            "expose_info = NO\t\nstrict_cors_mode = f\n")
        self.assertEqual(
            (settings.account_autocreate, settings.allow_account_management,
             settings.expose_info, settings.strict_cors_mode),
            (True, True, False, False))

    def test_nodeCountReplicas(self) -> None:
        """
        C{request_node_count} takes C{N * replicas} with or without spaces.
        """
        for text, expected in (("3 * replicas", 9), ("1*replicas", 3)):
            settings = self.settings(f"request_node_count = {text}")
            self.assertEqual(settings.node_count(3), expected)

    def test_relativeSwiftDir(self) -> None:
        """
        A relative C{swift_dir} resolves against the file's directory.
        """
        path = self.write_config(_MINIMAL + "swift_dir = rings\n")
        settings = ProxySettings.from_section(load_config(path))
        self.assertEqual(settings.swift_dir, os.path.join(os.path.dirname(path), "rings"))

    def test_setValue(self) -> None:
        """
        C{set NAME} in the application's section beats C{[DEFAULT]}.
        """
        settings = self.settings("set node_timeout = 4", default="node_timeout = 9")
        self.assertEqual(settings.node_timeout, 4.0)

    def assertBadValue(self, option: str, value: str) -> None:
        path = self.write_config(_MINIMAL + f"{option} = {value}\n")
        config = load_config(path)
        error = self.assertRaises(ConfigError, ProxySettings.from_section, config)
        message = str(error)
        self.assertNotIn("\n", message)
        self.assertTrue(
            message.startswith(f"{path}: [app:proxy-server] {option}: bad value"),
            message,
        )

    def test_badValues(self) -> None:
        """
        A bad value is a one-line L{ConfigError} naming file, section and
        option.
        """
        for option, value in [
            ("bind_port", "http"),
            ("bind_port", "70000"),
            ("bind_port", "-1"),
            ("workers", "-2"),
            ("workers", "1.5"),
            ("stale_worker_timeout", "-1"),
            ("stale_worker_timeout", "a day"),
            ("node_timeout", "soon"),
            ("node_timeout", "-1"),
            ("node_timeout", "nan"),
            ("account_autocreate", "maybe"),
            ("sorting_method", "random"),
            ("request_node_count", "replicas"),
            ("request_node_count", "2 * nodes"),
            ("request_node_count", "-1"),
            ("request_node_count", "\u00b2"),
            ("request_node_count", "\u00b2 * replicas"),
        ]:
            self.assertBadValue(option, value)

    @given(st.text(max_size=12))
    def test_nodeCountNeverBreaksLater(self, text: str) -> None:
        """
        Any C{request_node_count} L{ProxySettings.from_section} accepts can
        be used by L{ProxySettings.node_count}.
        """
        config = ProxyConfig(
            "/x.conf", {}, ["p"], {"app:p": {"request_node_count": text}}
        )
        try:
            settings = ProxySettings.from_section(config)
        except ConfigError:
            return
        self.assertGreaterEqual(settings.node_count(3), 0)

    def test_unknownOptionWarned(self) -> None:
        """
        An unknown option is logged with file, section and option; options
        from C{[DEFAULT]} and the quiet Swift options are not.
        """
        path = self.write_config(
            "[DEFAULT]\nlog_level = INFO\nwhatever = 1\n"
            + _MINIMAL
            + "node_timout = 3\nlog_facility = LOG_LOCAL0\n"
        )
        config = load_config(path)
        with capturedLogs() as events:
            settings = ProxySettings.from_section(config)
        messages = [formatEvent(event) for event in events]
        self.assertEqual(
            messages,
            [f"{path}: [app:proxy-server] node_timout: unknown option, ignored"],
        )
        self.assertEqual(settings.node_timeout, 10.0)

    def test_unsupportedWarned(self) -> None:
        """
        Each Swift option accepted but not supported yet is named in one
        warning when set to anything but what the proxy does anyway.
        """
        path = self.write_config(
            _MINIMAL
            + "post_quorum_timeout = 0.25\nobject_chunk_size = 8192\n"
            + "client_chunk_size = 4096\n"
        )
        with capturedLogs() as events:
            settings = ProxySettings.from_section(load_config(path))
        messages = [formatEvent(event) for event in events]
        self.assertEqual(len(messages), 2, messages)
        # post_quorum_timeout is supported.
        self.assertEqual(settings.post_quorum_timeout, 0.25)
        for option, value in [
            ("object_chunk_size", "8192"), ("client_chunk_size", "4096"),
        ]:
            self.assertIn(
                f"{path}: [app:proxy-server] {option} = {value}: accepted but not "
                "supported yet: ",
                "\n".join(messages))

    def test_tlsFiles(self) -> None:
        """
        C{cert_file} and C{key_file}, in C{[DEFAULT]} as Swift's sample has
        them, are read without a warning; a relative name is taken against
        the configuration's directory.
        """
        path = self.write_config("[DEFAULT]\ncert_file = /c.pem\nkey_file = k.pem\n"
                                 + _MINIMAL)
        with capturedLogs() as events:
            settings = ProxySettings.from_section(load_config(path))
        self.assertEqual([formatEvent(event) for event in events], [])
        self.assertEqual(settings.cert_file, "/c.pem")
        self.assertEqual(settings.key_file, os.path.join(os.path.dirname(path), "k.pem"))

    def test_noTls(self) -> None:
        """
        Without them the proxy serves plain HTTP, with no PROXY header.
        """
        settings = ProxySettings.from_section(load_config(self.write_config(_MINIMAL)))
        self.assertIsNone(settings.cert_file)
        self.assertIsNone(settings.key_file)
        self.assertIs(settings.require_proxy_protocol, False)

    def test_certWithoutKey(self) -> None:
        """
        C{cert_file} without C{key_file} stops startup (Swift fails
        without it too).
        """
        path = self.write_config("[DEFAULT]\ncert_file = /c.pem\n" + _MINIMAL)
        error = self.assertRaises(ConfigError, ProxySettings.from_section, load_config(path))
        self.assertEqual(str(error), f"{path}: [app:proxy-server] key_file: required with "
                                     "cert_file")

    def test_emptyCertFile(self) -> None:
        path = self.write_config("[DEFAULT]\ncert_file =\nkey_file = /k.pem\n" + _MINIMAL)
        error = self.assertRaises(ConfigError, ProxySettings.from_section, load_config(path))
        self.assertIn("cert_file: bad value ''", str(error))

    def test_keyWithoutCertWarned(self) -> None:
        """
        C{key_file} alone is no TLS, as in Swift; it is warned about.
        """
        path = self.write_config("[DEFAULT]\nkey_file = /k.pem\n" + _MINIMAL)
        with capturedLogs() as events:
            settings = ProxySettings.from_section(load_config(path))
        self.assertEqual([formatEvent(event) for event in events], [
            f"{path}: [app:proxy-server] key_file without cert_file: serving plain HTTP"])
        self.assertIsNone(settings.cert_file)

    def test_requireProxyProtocol(self) -> None:
        path = self.write_config(_MINIMAL + "require_proxy_protocol = yes\n")
        settings = ProxySettings.from_section(load_config(path))
        self.assertIs(settings.require_proxy_protocol, True)
        path = self.write_config(_MINIMAL + "require_proxy_protocol = sometimes\n")
        self.assertRaises(ConfigError, ProxySettings.from_section, load_config(path))

    def test_workersAuto(self) -> None:
        """
        C{workers = auto} (any case) is one worker per CPU, as in Swift.
        """
        self.patch(os, "cpu_count", lambda: 6)
        for text in ("auto", "AUTO", " Auto "):
            path = self.write_config(_MINIMAL + f"workers = {text}\n")
            self.assertEqual(ProxySettings.from_section(load_config(path)).workers, 6)
        self.patch(os, "cpu_count", lambda: None)
        path = self.write_config(_MINIMAL + "workers = auto\n")
        self.assertEqual(ProxySettings.from_section(load_config(path)).workers, 1)

    def test_skipCachePercent(self) -> None:
        """
        C{account_existence_skip_cache_pct} and
        C{container_existence_skip_cache_pct} are percentages, kept as
        fractions; anything outside 0-100 stops startup.
        """
        path = self.write_config(
            _MINIMAL + "account_existence_skip_cache_pct = 2.5\n"
            + "container_existence_skip_cache_pct = 100\n")
        with capturedLogs() as events:
            settings = ProxySettings.from_section(load_config(path))
        self.assertEqual([formatEvent(event) for event in events], [])
        self.assertEqual((settings.account_existence_skip_cache_pct,
                          settings.container_existence_skip_cache_pct), (0.025, 1.0))
        self.assertEqual(ProxySettings().account_existence_skip_cache_pct, 0.0)
        for bad in ("101", "-1", "nan", "lots"):
            path = self.write_config(_MINIMAL + f"account_existence_skip_cache_pct = {bad}\n")
            self.assertRaises(ConfigError, ProxySettings.from_section, load_config(path))

    def test_writeLegacyECCRC(self) -> None:
        """
        C{write_legacy_ec_crc} is true, false, or unset when absent or
        blank (Swift then leaves liberasurecode's variable alone).
        """
        for line, value in (("", None), ("write_legacy_ec_crc =\n", None),
                            ("write_legacy_ec_crc = yes\n", True),
                            ("write_legacy_ec_crc = false\n", False)):
            path = self.write_config(_MINIMAL + line)
            settings = ProxySettings.from_section(load_config(path))
            self.assertEqual(settings.write_legacy_ec_crc, value, line)
        path = self.write_config(_MINIMAL + "write_legacy_ec_crc = maybe\n")
        self.assertRaises(ConfigError, ProxySettings.from_section, load_config(path))

    def test_unsupportedAsTheProxyDoes(self) -> None:
        """
        Set to what the proxy does anyway, those options are not warned
        about; the affinity options are supported.
        """
        path = self.write_config(
            _MINIMAL
            + "node_timeout = 3\nobject_chunk_size = 65536\n"
            + "rebalance_missing_suppression_count = 2\n"
            + "client_chunk_size = 65536\nread_affinity = r1=100\nwrite_affinity = r1\n"
            + "write_affinity_node_count = 3\nsorting_method = affinity\n"
        )
        with capturedLogs() as events:
            ProxySettings.from_section(load_config(path))
        self.assertEqual([formatEvent(event) for event in events], [])

    def test_otherSection(self) -> None:
        """
        L{ProxySettings.from_section} reads the section it is given.
        """
        path = self.write_config(_MINIMAL + "\n[filter:x]\nworkers = 3\n")
        settings = ProxySettings.from_section(load_config(path), "filter:x")
        self.assertEqual(settings.workers, 3)

    def test_sampleConfigs(self) -> None:
        """
        The sample configurations in C{conf/} load and validate without
        warnings.
        """
        conf = os.path.join(os.path.dirname(os.path.dirname(__file__)), "conf")
        names = sorted(n for n in os.listdir(conf) if n.endswith(".conf"))
        self.assertTrue(names)
        for name in names:
            config = load_config(os.path.join(conf, name))
            with capturedLogs() as events:
                ProxySettings.from_section(config)
            self.assertEqual([formatEvent(e) for e in events], [], name)
