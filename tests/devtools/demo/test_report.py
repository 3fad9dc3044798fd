"""The demo's measurement model and closing report (the end-to-end run is `make demo`)."""

from __future__ import annotations

from pathlib import Path

from mec_devtools.demo.latency_model import host_status, rtt_ms
from mec_devtools.demo.report import DemoReport, Snapshot, markdown, plot, serving

HOSTS = {"site-a": (-37.8150, 144.9600), "site-b": (-37.8100, 144.9700)}
APS = {"ap-1": (-37.8151, 144.9601), "ap-2": (-37.8101, 144.9699)}


def test_rtt_grows_with_distance_and_degradation() -> None:
    near = rtt_ms(APS["ap-1"], HOSTS["site-a"])
    far = rtt_ms(APS["ap-1"], HOSTS["site-b"])
    assert 1.0 < near < far
    assert rtt_ms(APS["ap-1"], HOSTS["site-a"], extra_ms=25.0) == round(near + 25.0, 3)


def test_host_status_reports_every_access_point_like_an_agent() -> None:
    status = host_status(HOSTS["site-a"], APS)
    assert status["agentConnected"] is True
    assert [e["accessPointId"] for e in status["accessPointRtt"]] == ["ap-1", "ap-2"]
    assert all(e["p95Ms"] >= e["p50Ms"] for e in status["accessPointRtt"])


def test_each_cell_is_served_by_its_nearest_running_instance() -> None:
    both = serving(["site-a", "site-b"], HOSTS, APS, {})
    assert {ap: host for ap, (host, _) in both.items()} == {"ap-1": "site-a", "ap-2": "site-b"}
    degraded = serving(["site-a", "site-b"], HOSTS, APS, {"site-a": 25.0})
    assert degraded["ap-1"][0] == "site-b"


def test_report_and_plot_are_written(tmp_path: Path) -> None:
    report = DemoReport(control_plane_s=8.5, timings={"placed": 2.0})
    report.snapshots.append(Snapshot("v2x, initial", ["site-a"]))
    text = markdown(report, "placement.png")
    assert "| placed | 2.00 |" in text
    assert "v2x, initial" in text
    image = tmp_path / "placement.png"
    assignment = serving(["site-a"], HOSTS, APS, {})
    plot(image, [("initial", assignment, ["site-a"])], HOSTS, APS)
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.stat().st_size > 10_000
