"""Oracle: the TensorBoard event files mha2mla writes, read by an independent reader written here from the
TFRecord and protobuf wire formats (no tensorboard or tensorflow package): record framing with masked
CRC-32C (own bitwise implementation, checked on "123456789" -> 0xE3069283), the first record's
file_version "brain.Event:2", then one Event per logged step whose Summary values carry the tags and
float32 values logged; the JSONL file carries the same steps and values exactly."""
import glob
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np

HELPERS = os.environ.get("MHA2MLA_TEST_HELPERS", os.path.join(os.getcwd(), "tests", "helpers"))
SCRATCH = os.path.join(os.environ.get("MHA2MLA_TEST_TMP", "/tmp"), "tensorboard_oracle")

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path):
    with open(path, "rb") as f:
        data = f.read()
    records, offset = [], 0
    while offset < len(data):
        check(offset + 12 <= len(data), f"{path}: truncated record header at byte {offset}")
        header = data[offset:offset + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
        check(length_crc == masked(crc32c(header)), f"{path}: bad length CRC at byte {offset}")
        body = data[offset + 12:offset + 12 + length]
        (body_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
        check(len(body) == length and body_crc == masked(crc32c(body)), f"{path}: bad data CRC at byte {offset}")
        records.append(body)
        offset += 16 + length
    return records


def varint(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def fields(data):
    """(field number, wire type, value) for each field of a protobuf message."""
    pos, out = 0, []
    while pos < len(data):
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((number, wire, value))
    return out


def decode_event(data):
    """tensorflow.Event: wall_time=1 (double), step=2 (int64), file_version=3, summary=5."""
    event = {"wall_time": None, "step": 0, "file_version": None, "values": []}
    for number, wire, value in fields(data):
        if number == 1 and wire == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2 and wire == 0:
            event["step"] = value if value < 1 << 63 else value - (1 << 64)
        elif number == 3 and wire == 2:
            event["file_version"] = value.decode()
        elif number == 5 and wire == 2:
            for vnum, vwire, vdata in fields(value):  # Summary.value = 1
                check(vnum == 1 and vwire == 2, f"Summary field {vnum}/{vwire}")
                tag, simple = None, None
                for n, w, v in fields(vdata):  # Value: tag = 1, simple_value = 2 (float)
                    if n == 1 and w == 2:
                        tag = v.decode()
                    elif n == 2 and w == 5:
                        simple = struct.unpack("<f", v)[0]
                event["values"].append((tag, simple))
        else:
            check(False, f"unexpected Event field {number} (wire type {wire})")
    return event


def events_in(folder):
    files = glob.glob(os.path.join(folder, "*"))
    check(len(files) == 1 and "tfevents" in os.path.basename(files[0]), f"{folder}: files {files}")
    return [decode_event(r) for r in read_records(files[0])]


def main():
    check(crc32c(b"123456789") == 0xE3069283, "the test's own CRC-32C is wrong")
    os.makedirs(SCRATCH, exist_ok=True)
    for old in glob.glob(os.path.join(SCRATCH, "*", "*")):
        os.remove(old)
    steps = [(1, 2.5, 2.0, 0.5, 0.0, 10.0), (2, 1.25, 1.0, 0.25, 1.5e-4, 3.3), (10, 0.1, 0.09, 0.01, 3e-4, 0.7)]
    args = [":".join(repr(v) for v in s) for s in steps]
    started = time.time()
    subprocess.run([os.path.join(HELPERS, "metrics_probe"), SCRATCH] + args, check=True)

    events = events_in(os.path.join(SCRATCH, "tb"))
    check(events[0]["file_version"] == "brain.Event:2", f"first record: {events[0]}")
    check(len(events) == 1 + len(steps), f"{len(events)} events for {len(steps)} steps")
    for event, (step, total, activation, kl, lr, grad) in zip(events[1:], steps):
        check(event["step"] == step, f"event step {event['step']}, expected {step}")
        check(abs(event["wall_time"] - started) < 600, f"step {step}: wall_time {event['wall_time']}")
        values = dict(event["values"])
        expected = {"loss/total": total, "loss/activation": activation, "loss/kl": kl, "train/lr": lr,
                    "train/grad_norm": grad, "train/tokens_per_s": 123.25, "train/samples": 4 * step,
                    "train/tokens": 1000 * step, "train/skipped_steps": 0}
        check(set(values) == set(expected), f"step {step}: tags {sorted(values)}")
        for tag, want in expected.items():
            check(values.get(tag) == float(np.float32(want)), f"step {step} {tag}: {values.get(tag)} != {want}")

    extra = events_in(os.path.join(SCRATCH, "extra"))
    check(extra[0]["file_version"] == "brain.Event:2" and extra[0]["wall_time"] == 1700000000.5, f"{extra[0]}")
    check(extra[1]["step"] == 0 and extra[1]["values"] == [("extra/zero", 0.0)], f"zero scalar: {extra[1]}")
    check(extra[2]["step"] == 7 and extra[2]["values"] == [("extra/big", float(np.float32(1e30)))], f"{extra[2]}")

    with open(os.path.join(SCRATCH, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    check(len(lines) == len(steps), f"{len(lines)} JSON lines")
    for line, (step, total, activation, kl, lr, grad) in zip(lines, steps):
        check(line["step"] == step and line["loss"] == {"total": total, "activation": activation, "kl": kl} and
              line["lr"] == lr and line["grad_norm"] == grad and line["samples"] == 4 * step, f"JSON line {line}")
    print(f"read {len(events) + len(extra)} events and {len(lines)} JSON lines")

    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("tensorboard oracle: OK")


if __name__ == "__main__":
    main()
