#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Carries QEMU monitor commands from the guest to QEMU: the guest's hot-plug tests ask for them.

    scripts/qmp_relay.py SOCKET CONSOLE_LOG

A guest program prints ``P2PMM-QMP {"execute": ...}`` on its console (tests/kselftest/p2pmm_hotplug_test.c asks
for ``device_del`` and ``device_add`` this way); scripts/vm.sh tees the console into CONSOLE_LOG and runs this next
to QEMU, which listens for QMP on SOCKET. The relay follows the log from its start, sends each command as it appears
and prints every reply and event with the time, for the test report. The guest sees the outcome in its own sysfs
(the device goes, the device comes back), not here. The commands that follow a device_del wait until QEMU has
finished it (DEVICE_DELETED): the guest sees the device go a little before, and a device_add of the same id, or an
object-del of its memory backend, would fail in between. It ends when QEMU closes the socket.
"""
import json
import os
import re
import socket
import sys
import time

COMMAND = re.compile(r"P2PMM-QMP (\{.*\})")


def connect(path, deadline):
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def say(what, obj):
    print(f"{time.strftime('%H:%M:%S')} qmp {what} {json.dumps(obj)}", flush=True)


def main():
    sock_path, log_path = sys.argv[1], sys.argv[2]
    s = connect(sock_path, time.monotonic() + 120)
    s.setblocking(False)
    buf = b""
    greeted = False
    log = None
    pending = b""
    queue = []
    deleting = set()
    while True:
        # QEMU's side: the greeting, replies and events, one JSON object a line.
        try:
            chunk = s.recv(65536)
            if not chunk:
                return 0
            buf += chunk
        except BlockingIOError:
            pass
        except OSError:
            return 0
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            msg = json.loads(line)
            if "QMP" in msg and not greeted:
                s.sendall(b'{"execute": "qmp_capabilities"}\n')
                greeted = True
            elif "event" in msg:
                say("event", msg)
                if msg["event"] == "DEVICE_DELETED":
                    deleting.discard(msg.get("data", {}).get("device"))
            else:
                say("reply", msg)
        # The guest's side: commands in the console log, each sent once, from complete lines only.
        if log is None and os.path.exists(log_path):
            log = open(log_path, "rb")
        if log is not None and greeted:
            pending += log.read()
            lines = pending.split(b"\n")
            pending = lines.pop()
            for line in lines:
                for m in COMMAND.finditer(line.decode("utf-8", errors="replace")):
                    try:
                        cmd = json.loads(m.group(1))
                    except ValueError:
                        say("unreadable", m.group(1))
                        continue
                    say("command", cmd)
                    queue.append(cmd)
        # In order; nothing is sent while a device_del is not finished.
        while queue and not deleting:
            cmd = queue.pop(0)
            if cmd.get("execute") == "device_del":
                deleting.add(cmd.get("arguments", {}).get("id"))
            s.sendall((json.dumps(cmd) + "\n").encode())
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
