"""Target detail: everything pitwatch knows about one target, where per-target alerts link.

The rows common to every probe come first (status, success, latency, failure reasons, HTTP
and phase timings); the rows for one probe kind (flow steps, access log, backup file,
network, process) are collapsed, as most targets have nothing to show there.
"""

from __future__ import annotations

from dashboards.conventions import (
    TARGET,
    dashboard,
    job_variable,
    platform_variable,
    runbook,
)
from dashboards.grafana import (
    Json,
    Query,
    annotation,
    good_from_one,
    override,
    query_variable,
    row,
    stat,
    state_timeline,
    thresholds,
    timeseries,
    value_map,
)

S = 'job=~"$job", platform=~"$platform", component=~"$component", target="$target"'
RATE = "[$__rate_interval]"
DAY = 86400
DASHED = {"fill": "dash", "dash": [10, 10]}


def _variables() -> list[Json]:
    scope = 'job=~"$job", platform=~"$platform"'
    return [
        job_variable(),
        platform_variable(),
        query_variable(
            "component",
            "Component",
            f"label_values(pitwatch_target_info{{{scope}}}, component)",
            all_value=".+",
        ),
        query_variable(
            "target",
            "Target",
            f'label_values(pitwatch_target_info{{{scope}, component=~"$component"}}, target)',
        ),
    ]


def _now() -> list[Json]:
    return [
        stat(
            "Last probe",
            "Whether the latest probe of this target succeeded.",
            [Query(f"max(pitwatch_probe_success{{{S}}})")],
            unit="none",
            steps=good_from_one(),
            mappings=[value_map({0: ("DOWN", "red"), 1: ("UP", "green")})],
            links=[runbook("PitwatchTargetDown")],
        ),
        stat(
            "Availability (30 days)",
            "Share of successful probes over the last 30 days (or since pitwatch started "
            "probing it), maintenance windows included.",
            [Query(f"target:pitwatch_probe_successes_per_probes:ratio_rate30d{{{S}}}")],
            unit="percentunit",
            steps=thresholds(("text", None)),
            decimals=3,
            color_mode="value",
        ),
        stat(
            "Objective",
            "The target's availability objective: from its config (`objectives.availability`) "
            "or the default of its tier.",
            [Query(f"target:pitwatch_target_objective_ratio:max{{{S}}}")],
            unit="percentunit",
            steps=thresholds(("text", None)),
            decimals=2,
            color_mode="value",
        ),
        stat(
            "Error budget left (30 days)",
            "1 = no failure yet, 0 = the objective's whole 30-day allowance of failures is "
            "spent, negative = overspent. PitwatchErrorBudgetBurn fires on how fast it goes.",
            [Query(f"target:pitwatch_probe_error_budget_remaining:ratio30d{{{S}}}")],
            unit="percentunit",
            steps=thresholds(("red", None), ("orange", 0), ("yellow", 0.25), ("green", 0.5)),
            decimals=0,
            links=[runbook("PitwatchErrorBudgetBurn")],
        ),
        stat(
            "Last success",
            "Time since the target last answered well.",
            [Query(f"time() - max(pitwatch_probe_last_success_timestamp_seconds{{{S}}})")],
            unit="dtdurations",
            steps=thresholds(("green", None), ("orange", 60), ("red", 300)),
            no_value="never",
        ),
        stat(
            "Certificate expires in",
            "Time left until the earliest-expiring certificate the target presented (http, "
            "tcp with TLS, postgres with TLS, flow steps) expires. PitwatchTLSCertificateExpiring "
            "opens a ticket under 21 days.",
            [Query(f"min(pitwatch_tls_cert_expiry_timestamp_seconds{{{S}}}) - time()")],
            unit="dtdurations",
            steps=thresholds(
                ("red", None), ("orange", 7 * DAY), ("yellow", 21 * DAY), ("green", 30 * DAY)
            ),
            no_value="no TLS",
            links=[
                runbook("PitwatchTLSCertificateExpiring"),
                runbook("PitwatchTLSCertificateExpired"),
            ],
        ),
    ]


def _history() -> list[Json]:
    results = state_timeline(
        "Probe results and maintenance windows",
        "Every probe's result over time, and when the target was in a maintenance window "
        "(probed as usual, but paging nobody).",
        [
            Query(f"max(pitwatch_probe_success{{{S}}})", "probe"),
            Query(f"max(pitwatch_target_maintenance{{{S}}})", "maintenance"),
        ],
        unit="none",
        steps=good_from_one(),
        mappings=[value_map({0: ("DOWN", "red"), 1: ("UP", "green")})],
        overrides=[
            override(
                "byName",
                "maintenance",
                mappings=[value_map({0: ("none", "transparent"), 1: ("MAINTENANCE", "blue")})],
            )
        ],
        links=[runbook("PitwatchTargetDown"), runbook("PitwatchTargetFlapping")],
        size=(24, 4),
    )
    success = timeseries(
        "Probe success ratio",
        "Share of successful probes per Grafana interval, over the last hour (the rule "
        "pack's recording), and the availability objective.",
        [
            Query(
                f'sum(rate(pitwatch_probes_total{{{S}, result="success"}}{RATE}))'
                f" / sum(rate(pitwatch_probes_total{{{S}}}{RATE}))",
                "success",
            ),
            Query(f"target:pitwatch_probe_successes_per_probes:ratio_rate1h{{{S}}}", "last 1h"),
            Query(f"target:pitwatch_target_objective_ratio:max{{{S}}}", "objective"),
        ],
        unit="percentunit",
        max_value=1,
        overrides=[override("byName", "objective", custom__lineStyle=DASHED)],
        links=[runbook("PitwatchErrorBudgetBurn"), runbook("PitwatchTargetErrorRatioHigh")],
    )
    latency = timeseries(
        "Latency percentiles",
        "Percentiles of probe duration over 5m windows (from the latency histogram, or "
        "from the last-probe gauge for targets without it), the latency objective, and "
        "each probe's own duration.",
        [
            Query(
                "max by (percentile) ("
                f"target_percentile:pitwatch_probe_latency_seconds:histogram_quantile5m{{{S}}}"
                " or "
                f"target_percentile:pitwatch_probe_duration_seconds:quantile_over_time5m{{{S}}})",
                "p{{percentile}}",
            ),
            Query(
                "max by (percentile) "
                f"(target_percentile:pitwatch_target_latency_objective_seconds:max{{{S}}})",
                "objective (p{{percentile}})",
            ),
            Query(f"max(pitwatch_probe_duration_seconds{{{S}}})", "last probe"),
        ],
        unit="s",
        min_value=0,
        overrides=[override("byRegexp", "objective.*", custom__lineStyle=DASHED)],
        links=[runbook("PitwatchTargetSlow")],
    )
    return [results, success, latency]


def _failures() -> list[Json]:
    reasons = timeseries(
        "Failures by reason",
        "Failed probes per minute by reason: timeout, dns, connect, tls, http_status, "
        "assertion, protocol, auth, other. The status page shows the last error message.",
        [
            Query(
                f"60 * sum by (reason) (rate(pitwatch_probe_errors_total{{{S}}}{RATE})) > 0",
                "{{reason}}",
            )
        ],
        unit="opm",
        min_value=0,
        stack=True,
        bars=True,
        links=[runbook("PitwatchTargetDown"), runbook("PitwatchTargetErrorRatioHigh")],
    )
    status = state_timeline(
        "HTTP status code",
        "Status of the final response of each http probe (0: no response arrived).",
        [Query(f"max(pitwatch_http_status_code{{{S}}})", "status")],
        unit="none",
        steps=thresholds(("red", None), ("green", 100), ("orange", 400), ("red", 500)),
        mappings=[value_map({0: ("no response", "red")})],
        size=(12, 4),
        show_values=True,
    )
    phases = timeseries(
        "Probe phases (last probe)",
        "Where the last probe spent its time, by phase: http (resolve, connect, tls, "
        "processing, transfer), tcp, dns and postgres probes each report their own phases.",
        [
            Query(
                f"max by (phase) (pitwatch_http_phase_duration_seconds{{{S}}})", "http {{phase}}"
            ),
            Query(f"max by (phase) (pitwatch_tcp_phase_duration_seconds{{{S}}})", "tcp {{phase}}"),
            Query(f"max by (phase) (pitwatch_dns_phase_duration_seconds{{{S}}})", "dns {{phase}}"),
            Query(
                f"max by (phase) (pitwatch_postgres_phase_duration_seconds{{{S}}})",
                "postgres {{phase}}",
            ),
        ],
        unit="s",
        min_value=0,
        stack=True,
        links=[runbook("PitwatchTargetSlow")],
    )
    return [reasons, phases, status]


def _flow() -> Json:
    return row(
        "Flow steps (probe: flow)",
        state_timeline(
            "Flow step results",
            "Each step of the flow in the last probe: passed, or failed/not run. The step "
            "that failed is the first red one; the steps after it did not run.",
            [Query(f"max by (step) (pitwatch_flow_step_success{{{S}}})", "{{step}}")],
            unit="none",
            steps=good_from_one(),
            mappings=[value_map({0: ("FAILED / NOT RUN", "red"), 1: ("PASSED", "green")})],
            links=[runbook("PitwatchTargetDown")],
            size=(12, 8),
        ),
        timeseries(
            "Flow step durations",
            "Time each step took in the last probe (0 for a step that did not run).",
            [Query(f"max by (step) (pitwatch_flow_step_duration_seconds{{{S}}})", "{{step}}")],
            unit="s",
            min_value=0,
            stack=True,
            links=[runbook("PitwatchTargetSlow")],
        ),
        collapsed=True,
    )


def _access_log() -> Json:
    requests = f"pitwatch_logs_requests_total{{{S}}}"
    unparsed = f"pitwatch_logs_unparsed_lines_total{{{S}}}"
    return row(
        "Access log (probe: logs)",
        timeseries(
            "Requests by status class",
            "Logged requests per second by status class: the traffic players actually sent.",
            [Query(f"sum by (status_class) (rate({requests}{RATE}))", "{{status_class}}")],
            unit="reqps",
            min_value=0,
            stack=True,
            links=[runbook("PitwatchAccessLogTrafficDrop")],
            size=(8, 8),
        ),
        timeseries(
            "Requests by route",
            "Logged requests per second by configured route (`other`: no route matched).",
            [Query(f"sum by (route) (rate({requests}{RATE}))", "{{route}}")],
            unit="reqps",
            min_value=0,
            stack=True,
            size=(8, 8),
        ),
        timeseries(
            "Request duration percentiles",
            "Percentiles of logged request durations over 5m windows (needs `duration_field`).",
            [
                Query(
                    "max by (percentile) (target_percentile:"
                    f"pitwatch_logs_request_duration_seconds:histogram_quantile5m{{{S}}})",
                    "p{{percentile}}",
                )
            ],
            unit="s",
            min_value=0,
            size=(8, 8),
        ),
        timeseries(
            "Server errors and unparsed lines",
            "Share of logged requests answered 5xx (5m windows), and share of log lines that "
            "did not match the configured format: a high one means the traffic figures are "
            "incomplete.",
            [
                Query(
                    f"target:pitwatch_logs_request_errors_per_requests:ratio_rate5m{{{S}}}",
                    "5xx share",
                ),
                Query(
                    f"sum(rate({unparsed}{RATE}))"
                    f" / (sum(rate({unparsed}{RATE})) + sum(rate({requests}{RATE})))",
                    "unparsed share",
                ),
            ],
            unit="percentunit",
            min_value=0,
            links=[
                runbook("PitwatchAccessLogErrorRatioHigh"),
                runbook("PitwatchAccessLogUnparsed"),
            ],
        ),
        timeseries(
            "Log read rate and backlog",
            "Bytes of log read per second, and bytes present but not yet read after the last "
            "probe: a backlog that stays above 0 means the log grows faster than "
            "`max_read_bytes` per interval.",
            [
                Query(f"sum(rate(pitwatch_logs_read_bytes_total{{{S}}}{RATE}))", "read"),
                Query(f"max(pitwatch_logs_backlog_bytes{{{S}}})", "backlog"),
            ],
            unit="Bps",
            min_value=0,
            overrides=[override("byName", "backlog", unit="bytes")],
        ),
        collapsed=True,
    )


def _backup() -> Json:
    return row(
        "Backup file (probe: file)",
        timeseries(
            "Newest file age",
            "Age of the newest matching file (or of the timestamp a job wrote), and the "
            "configured `max_age`.",
            [
                Query(f"time() - max(pitwatch_file_modified_timestamp_seconds{{{S}}})", "age"),
                Query(f"max(pitwatch_file_max_age_seconds{{{S}}})", "max_age"),
            ],
            unit="s",
            min_value=0,
            overrides=[override("byName", "max_age", custom__lineStyle=DASHED)],
            links=[runbook("PitwatchBackupTooOld")],
        ),
        timeseries(
            "Newest file size",
            "Size of the newest matching file, and the configured `min_size`.",
            [
                Query(f"max(pitwatch_file_size_bytes{{{S}}})", "size"),
                Query(f"max(pitwatch_file_min_size_bytes{{{S}}})", "min_size"),
            ],
            unit="bytes",
            min_value=0,
            overrides=[override("byName", "min_size", custom__lineStyle=DASHED)],
            links=[runbook("PitwatchBackupTooSmall")],
        ),
        collapsed=True,
    )


def _network() -> Json:
    sent = f"pitwatch_icmp_packets_sent_total{{{S}}}"
    received = f"pitwatch_icmp_packets_received_total{{{S}}}"
    return row(
        "Network (probe: icmp, dns)",
        timeseries(
            "ICMP round trip and loss",
            "Average round trip of the last probe's echo replies, and the share of echo "
            "requests lost per Grafana interval (from the packet counters).",
            [
                Query(f"max(pitwatch_icmp_rtt_seconds{{{S}}})", "round trip"),
                Query(f"1 - sum(rate({received}{RATE})) / sum(rate({sent}{RATE}))", "loss"),
            ],
            unit="s",
            min_value=0,
            overrides=[
                override("byName", "loss", unit="percentunit", custom__axisPlacement="right")
            ],
        ),
        timeseries(
            "DNS answer",
            "Records of the asked type in the last answer, and its response code (0 NOERROR, "
            "2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED).",
            [
                Query(f"max(pitwatch_dns_answer_records{{{S}}})", "records"),
                Query(f"max(pitwatch_dns_response_code{{{S}}})", "rcode"),
            ],
            unit="short",
            min_value=0,
        ),
        collapsed=True,
    )


def _process() -> Json:
    return row(
        "Processes (probe: process)",
        timeseries(
            "Matching processes and threads",
            "Processes matching the target in the last probe, and their threads.",
            [
                Query(f"max(pitwatch_process_matches{{{S}}})", "processes"),
                Query(f"max(pitwatch_process_threads{{{S}}})", "threads"),
            ],
            unit="short",
            min_value=0,
        ),
        timeseries(
            "Process CPU and memory",
            "CPU used by the matching processes (1 = one core busy), and their resident memory.",
            [
                Query(f"sum(rate(pitwatch_process_cpu_seconds_total{{{S}}}{RATE}))", "CPU"),
                Query(f"max(pitwatch_process_resident_memory_bytes{{{S}}})", "memory"),
            ],
            unit="percentunit",
            min_value=0,
            overrides=[override("byName", "memory", unit="bytes", custom__axisPlacement="right")],
        ),
        collapsed=True,
    )


def build() -> Json:
    annotations = [
        annotation(
            "Maintenance",
            f"max(pitwatch_target_maintenance{{{S}}}) == 1",
            "maintenance",
            "$target is in a maintenance window",
            color="blue",
        ),
        annotation(
            "Alerts",
            'ALERTS{alertstate="firing", target="$target", component=~"$component"}',
            "{{alertname}}",
            "{{severity}}",
            color="red",
            tags="severity",
        ),
    ]
    return dashboard(
        TARGET,
        "pitwatch / Target detail",
        "One target: probe results, availability and error budget, latency percentiles, "
        "failure reasons, HTTP status and phases, certificate expiry, flow steps, access "
        "log, backup file, network and process figures, maintenance windows.",
        variables=_variables(),
        panels=[
            row("Now", *_now()),
            row("Success and latency", *_history()),
            row("Why it fails, where the time goes", *_failures()),
            _flow(),
            _access_log(),
            _backup(),
            _network(),
            _process(),
        ],
        annotations=annotations,
    )
