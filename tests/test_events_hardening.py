"""Events under an unlucky broker and a damaged outbox: bounded waits, nothing lost, nothing
doubled, true counts. Against the real RabbitMQ, through loopback proxies that stall or cut.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pika
from conftest import VENV_BIN, as_ordinary_user, run_cli, subprocess_env
from rabbitmq import BreakableProxy, Bus, StallingBroker, closing, connection, wait_until_following

from processing_core.events.model import StatusEvent
from processing_core.events.outbox import Outbox

IDENTITY = ["--workflow-name=l0_to_l1_vbi", "--workflow-version=3.0.0", "--task-id=the_task"]


def task_command(task: str, tmp_path: Path) -> list[str]:
    markers = json.dumps({"markers": str(tmp_path / "markers")})
    return [str(VENV_BIN / "processing-core"), "run-task", task, *IDENTITY,
            f"--parameters={markers}", f"--result-path={tmp_path / 'result.json'}"]  # fmt: skip


def kept(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.event"))]


def event(kind: str = "task.started") -> StatusEvent:
    return StatusEvent(
        kind=kind, source="task", workflow_name="w", workflow_version="1", run_id="r"
    )


def start_task(task: str, tmp_path: Path, bus: Bus, port: int, timeout: str) -> subprocess.Popen:
    """`run-task` of `task` whose broker is at `port` on loopback, waiting `timeout` seconds."""
    return subprocess.Popen(
        task_command(task, tmp_path),
        env=subprocess_env(**bus.env(ISB_PORT=str(port), ISB_TIMEOUT_SECONDS=timeout,
                                     EVENTS_OUTBOX=str(tmp_path / "outbox"))),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_until(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)


def test_a_broker_that_never_answers_costs_a_run_one_timeout(tmp_path, bus):
    stalling = StallingBroker()
    try:
        completed = subprocess.run(
            task_command("sample_tasks:Echo", tmp_path),
            env=subprocess_env(**bus.env(ISB_PORT=str(stalling.port), ISB_TIMEOUT_SECONDS="1",
                                         EVENTS_OUTBOX=str(tmp_path / "outbox"))),
            capture_output=True, text=True, timeout=25,  # a stall must not hang the task
        )  # fmt: skip
    finally:
        stalling.close()
    assert completed.returncode == 0, completed.stderr
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "success"
    assert [e["kind"] for e in kept(tmp_path / "outbox")] in (
        ["task.started", "task.succeeded"],
        ["task.succeeded", "task.started"],
    )
    assert "no answer from the broker within 1 s" in completed.stderr
    assert completed.stderr.count("not confirmed (attempt") == 1  # a stall is not retried


def test_a_broker_that_stalls_after_connecting_is_left_after_one_timeout(tmp_path, bus):
    proxy = BreakableProxy()
    try:
        process = start_task("sample_tasks:Napping", tmp_path, bus, proxy.port, "1")
        wait_until((tmp_path / "markers" / "run").exists, process)
        proxy.stalled.set()  # task.started went through; task.succeeded's confirm never comes
        _, stderr = process.communicate(timeout=25)
    finally:
        proxy.close()
    assert process.returncode == 0, stderr
    assert [e["kind"] for e in kept(tmp_path / "outbox")] == ["task.succeeded"]
    assert [json.loads(b)["kind"] for _, _, b in bus.messages(1, timeout=5)] == ["task.started"]


def test_sigterm_while_blocked_on_a_stalled_broker_keeps_the_result_and_the_events(tmp_path, bus):
    stalling = StallingBroker()
    try:
        process = start_task("sample_tasks:MarkerTask", tmp_path, bus, stalling.port, "120")
        wait_until(lambda: stalling.accepted, process)  # blocked on task.started
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        stalling.close()
    assert process.returncode == 143, stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "terminated"
    assert sorted(e["kind"] for e in kept(tmp_path / "outbox")) == ["task.failed", "task.started"]
    assert not (tmp_path / "markers").exists()  # the task itself never started


def test_bad_outbox_entries_are_quarantined_and_never_block_the_rest(tmp_path, bus):
    folder = tmp_path / "outbox"
    outbox = Outbox(folder)
    good = [event(), event("task.succeeded")]
    for item in good:
        outbox.put(item.event_id, item.routing_key, item.body())
    (folder / "11111111-2222-3333-4444-555555555555.task.started.event").mkdir()
    corrupt = event()
    (folder / f"{corrupt.event_id}.task.started.event").write_bytes(b"{not json")
    private = event()
    private_path = folder / f"{private.event_id}.task.started.event"
    private_path.write_bytes(private.body())
    private_path.chmod(0o000)  # as a file of another user is to this one: unreadable
    # As an ordinary user runs it: the mode-000 entry is then unreadable.
    flushed = subprocess.run(
        [*as_ordinary_user(), str(VENV_BIN / "processing-core"), "events", "flush"],
        env=subprocess_env(**bus.env(EVENTS_OUTBOX=str(folder))),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert flushed.returncode == 0, flushed.stderr
    assert "2 event(s) delivered, 0 kept" in flushed.stdout
    assert "3 quarantined" in flushed.stdout
    received = sorted(p.message_id for p, _, _ in bus.messages(2, timeout=5))
    assert received == sorted(item.event_id for item in good)
    quarantined = sorted(p.name for p in (folder / "quarantine").iterdir())
    assert len(quarantined) == 3 and list(folder.glob("*.event")) == []
    assert "Traceback" not in flushed.stderr


def test_two_flushes_at_once_deliver_each_event_once_with_true_counts(tmp_path, bus):
    folder = tmp_path / "outbox"
    outbox = Outbox(folder)
    events = [event() for _ in range(300)]
    for item in events:
        outbox.put(item.event_id, item.routing_key, item.body())
    processes = [
        subprocess.Popen([str(VENV_BIN / "processing-core"), "events", "flush"],
                         env=subprocess_env(**bus.env(EVENTS_OUTBOX=str(folder))),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    delivered = [int(out.split(" event(s) delivered")[0].split()[-1]) for out in outputs]
    assert sum(delivered) == 300, outputs
    received = [p.message_id for p, _, _ in bus.messages(300, timeout=10)]
    assert sorted(received) == sorted(item.event_id for item in events)  # each once
    assert bus.count() == 0 and len(outbox) == 0


def test_a_flush_cut_short_reports_what_it_really_delivered(tmp_path, bus):
    folder = tmp_path / "outbox"
    outbox = Outbox(folder)
    for item in [event() for _ in range(2000)]:
        outbox.put(item.event_id, item.routing_key, item.body())
    # Cut once ~300 KB went to the broker (an event is ~0.6 KB with its frames): midway,
    # however fast this machine flushes.
    proxy = BreakableProxy(cut_after_bytes=300_000)
    try:
        flushed = subprocess.run(
            [str(VENV_BIN / "processing-core"), "events", "flush"],
            env=subprocess_env(**bus.env(ISB_PORT=str(proxy.port), EVENTS_OUTBOX=str(folder))),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        proxy.close()
    out, err = flushed.stdout, flushed.stderr
    assert flushed.returncode == 1, err
    assert proxy.cuts >= 1
    delivered = int(out.split(" event(s) delivered")[0].split()[-1])
    left = len(outbox)
    assert delivered >= 100 and left >= 100 and delivered + left == 2000, out
    # What it says it delivered arrived, each once. (An event whose confirm the cut lost is
    # both received and kept: it is sent again later, and consumers drop it by its id.)
    received = [p.message_id for p, _, _ in bus.messages(2000, timeout=5)]
    still_kept = {entry["event_id"] for entry in kept(folder)}
    assert len(received) == len(set(received))
    assert len(set(received) - still_kept) == delivered
    assert f"{left} kept" in out and "did not take every event" in err


def test_an_outbox_path_that_is_a_file_is_refused_and_one_that_breaks_falls_back(tmp_path, bus):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    refused = subprocess.run(
        task_command("sample_tasks:Echo", tmp_path),
        env=subprocess_env(**bus.env(EVENTS_OUTBOX=str(blocker), ISB_PORT="1")),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and "EVENTS_OUTBOX" in refused.stderr
    assert "is a file" in refused.stderr and "Traceback" not in refused.stderr
    # A path that only breaks when an event must be kept (under a file): the fallback keeps it.
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    completed = subprocess.run(
        task_command("sample_tasks:Echo", tmp_path),
        env=subprocess_env(**bus.env(EVENTS_OUTBOX=str(blocker / "outbox"), ISB_PORT="1",
                                     RETRY_CONFIG='{"attempts": 1}'), TMPDIR=str(temporary)),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    fallback = temporary / "processing-core-outbox-fallback"
    assert sorted(e["kind"] for e in kept(fallback)) == ["task.started", "task.succeeded"]
    assert "kept in the fallback outbox" in completed.stderr


def test_tail_skips_messages_that_are_not_events_and_keeps_stdout_for_events(bus):
    process = subprocess.Popen(
        [str(VENV_BIN / "processing-core"), "events", "tail", "--json", "--count", "1",
         "--timeout", "20"],
        env=subprocess_env(**bus.env()), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_until_following(process)
    good = event("task.succeeded")
    with closing(connection()) as conn:
        channel = conn.channel()
        channel.basic_publish(bus.name, "task.failed", b"\xff not json [bold]",
                              pika.BasicProperties(message_id="junk"))  # fmt: skip
        channel.basic_publish(bus.name, good.routing_key, good.body())
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert [json.loads(line)["event_id"] for line in out.splitlines()] == [good.event_id]
    assert "Skipped a message that is not a status event (message_id 'junk'" in err


def test_tail_with_the_broker_down_says_so(tmp_path):
    completed = run_cli("events", "tail", "--count", "1", ISB_PORT="1")
    assert completed.returncode == 1
    assert "cannot follow events on RabbitMQ at localhost:1" in completed.stderr
    assert "Traceback" not in completed.stderr
