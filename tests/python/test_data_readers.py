"""Oracle test for data/readers and `mha2mla make-data`: every format make-data writes is read back by mha2mla's
readers (tests/helpers/data_dump) and, independently, by Python's json and tarfile modules and PIL; ids,
conversations, image bytes and sizes must agree record by record. Also:
  - tar shards in GNU format (long names) and pax format, with directories and extension-less members, written
    by Python's tarfile;
  - the synthetic answers are exact: "How many shapes" answers equal the connected coloured regions PIL finds.
(make-data's determinism is checked in-process by tests/unit/data_make_data_test.cpp.)
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

from PIL import Image

FAILURES = []
ROLE = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL:", message, flush=True)


def scratch(name):
    root = os.environ.get("MHA2MLA_TEST_TMP", "/tmp/mha2mla-test-tmp")
    path = os.path.join(root, "python-data-readers", name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def tool(name):
    helpers = os.environ.get("MHA2MLA_TEST_HELPERS", os.path.join(os.getcwd(), "tests", "helpers"))
    path = os.path.join(helpers, name)
    if not os.path.exists(path):
        sys.exit(f"{name} not found at {path}; build it (ninja -C build {name})")
    return path


def binary():
    path = os.environ.get("MHA2MLA_BINARY", os.path.join(os.getcwd(), "mha2mla"))
    if not os.path.exists(path):
        sys.exit(f"mha2mla not found at {path}")
    return path


def run(args):
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def dump(paths):
    """mha2mla's records of every dataset in `paths`, in one process (each start loads LibTorch)."""
    records = [[] for _ in paths]
    for line in run([tool("data_dump")] + paths).splitlines():
        record = json.loads(line)
        records[record["dataset"]].append(record)
    return records


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for c in data:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def image_facts(data):
    image = Image.open(io.BytesIO(data))
    return {"bytes": len(data), "fnv1a64": fnv1a64(data), "width": image.size[0], "height": image.size[1]}


def python_records(folder, fmt):
    """(id, messages, [image bytes]) per record, read with json / tarfile only."""
    records = []
    if fmt == "llava_json":
        for element in json.load(open(os.path.join(folder, "data.json"), encoding="utf-8")):
            records.append(llava_record(element, folder))
    elif fmt in ("sharegpt_jsonl", "messages_jsonl"):
        for line in open(os.path.join(folder, "data.jsonl"), encoding="utf-8"):
            if not line.strip():
                continue
            element = json.loads(line)
            if fmt == "sharegpt_jsonl":
                records.append(llava_record(element, folder))
            else:
                messages = [[m["role"], m["content"]] for m in element["messages"]]
                images = [open(os.path.join(folder, p), "rb").read() for p in element.get("images", [])]
                records.append((element["id"], messages, images))
    else:
        for shard in sorted(f for f in os.listdir(folder) if f.endswith(".tar")):
            records.extend(tar_records(os.path.join(folder, shard)))
    return records


def llava_record(element, folder):
    messages = [[ROLE[t["from"]], t["value"]] for t in element["conversations"]]
    paths = element.get("image", [])
    paths = [paths] if isinstance(paths, str) else paths
    return element["id"], messages, [open(os.path.join(folder, p), "rb").read() for p in paths]


def split_key(name):
    base = name.rsplit("/", 1)
    prefix = base[0] + "/" if len(base) == 2 else ""
    stem = base[-1]
    if "." not in stem:
        return None, None
    key, ext = stem.split(".", 1)
    return prefix + key, ext


def tar_records(path):
    """WebDataset grouping: consecutive regular members sharing a key."""
    groups = []
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            key, ext = split_key(member.name)
            if key is None:
                continue
            if not groups or groups[-1][0] != key:
                groups.append((key, {}))
            groups[-1][1][ext] = tar.extractfile(member).read()
    records = []
    for key, members in groups:
        element = json.loads(members["json"])
        messages = ([[m["role"], m["content"]] for m in element["messages"]] if "messages" in element
                    else [[ROLE[t["from"]], t["value"]] for t in element["conversations"]])
        def order(ext):
            stem = ext.rsplit(".", 1)[0]
            return -1 if "." not in ext else int(stem)
        image_exts = sorted((e for e in members if e.rsplit(".", 1)[-1].lower() in ("jpg", "jpeg", "png")), key=order)
        records.append((element.get("id", key), messages, [members[e] for e in image_exts]))
    return records


def compare(name, ours, theirs):
    check(len(ours) == len(theirs), f"{name}: mha2mla read {len(ours)} records, Python {len(theirs)}")
    for mine, (id_, messages, images) in zip(ours, theirs):
        where = f"{name}: record {id_}"
        check("bad" not in mine, f"{where}: mha2mla refused it: {mine.get('error')}")
        if "bad" in mine:
            continue
        check(mine["id"] == id_, f"{where}: id {mine['id']!r}")
        check(mine["messages"] == messages, f"{where}: messages {mine['messages']} != {messages}")
        facts = [{k: v for k, v in image.items() if k != "name"} for image in mine["images"]]
        check(facts == [image_facts(b) for b in images], f"{where}: images {facts}")


def shape_count(data):
    """Connected regions of clearly coloured pixels (background is light grey), 4-neighbour flood fill."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    pixels = image.load()
    coloured = [[max(abs(c - 235) for c in pixels[x, y]) > 60 for x in range(w)] for y in range(h)]
    seen = [[False] * w for _ in range(h)]
    regions = 0
    for y in range(h):
        for x in range(w):
            if not coloured[y][x] or seen[y][x]:
                continue
            size, stack = 0, [(x, y)]
            seen[y][x] = True
            while stack:
                cx, cy = stack.pop()
                size += 1
                for nx, ny in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
                    if 0 <= nx < w and 0 <= ny < h and coloured[ny][nx] and not seen[ny][nx]:
                        seen[ny][nx] = True
                        stack.append((nx, ny))
            regions += size >= 12
    return regions


def check_answers(records):
    checked = 0
    for id_, messages, images in records:
        for (role, question), (_, answer) in zip(messages, messages[1:]):
            if role != "user" or not question.endswith("How many shapes are in the image?") or len(images) != 1:
                continue
            expected = 1 if answer == "There is 1 shape." else int(answer.split()[2])
            check(shape_count(images[0]) == expected, f"{id_}: '{answer}' but the image shows {shape_count(images[0])}")
            checked += 1
    check(checked >= 3, f"only {checked} shape-count questions to check")


def make_data_sets():
    """(name, dataset path, Python's records) for every make-data format, written by the CLI."""
    sets = []
    for fmt in ("llava_json", "sharegpt_jsonl", "messages_jsonl", "wds"):
        folder = scratch(fmt)
        run([binary(), "make-data", "--format", fmt, "--out", folder, "--samples", "40", "--seed", "3",
             "--shard-size", "7"])
        path = folder if fmt == "wds" else os.path.join(folder, "data.json" if fmt == "llava_json" else "data.jsonl")
        theirs = python_records(folder, fmt)
        check(sum(len(images) > 1 for _, _, images in theirs) >= 2, f"{fmt}: no two-image samples")
        check(sum(len(messages) > 2 for _, messages, _ in theirs) >= 5, f"{fmt}: no multi-turn samples")
        check(any(images[0][:4] == b"\x89PNG" for _, _, images in theirs), f"{fmt}: no PNG images")
        check(any(images[0][:2] == b"\xff\xd8" for _, _, images in theirs), f"{fmt}: no JPEG images")
        if fmt == "llava_json":
            check_answers(theirs)
        sets.append((fmt, path, theirs))
    return sets


def tar_variant_sets():
    """Shards in GNU (long names), pax and ustar format by Python's tarfile, with a directory entry and an
    extension-less member, images listed out of order (.1.png before .0.jpg)."""
    folder = scratch("tar-variants")
    jpeg = io.BytesIO()
    Image.new("RGB", (20, 12), (200, 30, 40)).save(jpeg, format="JPEG")
    png = io.BytesIO()
    Image.new("RGB", (9, 7), (10, 200, 40)).save(png, format="PNG")
    long_dir = "some/deeply/nested/folder/" + "x" * 90
    conversation = {"conversations": [{"from": "human", "value": "<image>\n<image>\nHi"}, {"from": "gpt", "value": "Ok"}]}
    sets = []
    for fmt, name in ((tarfile.GNU_FORMAT, "gnu.tar"), (tarfile.PAX_FORMAT, "pax.tar"), (tarfile.USTAR_FORMAT, "ustar.tar")):
        shard_dir = os.path.join(folder, name[:-4])
        os.makedirs(shard_dir)
        directory = long_dir if fmt != tarfile.USTAR_FORMAT else "some/folder"
        with tarfile.open(os.path.join(shard_dir, name), "w", format=fmt) as tar:
            def add(member_name, data):
                info = tarfile.TarInfo(member_name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            dir_info = tarfile.TarInfo("some")
            dir_info.type = tarfile.DIRTYPE
            tar.addfile(dir_info)
            add("README", b"no extension: not a sample")
            for i in range(3):
                key = f"{directory}/sample-{i}"
                add(key + ".json", json.dumps(dict(conversation, id=f"s{i}")).encode())
                add(key + ".1.png", png.getvalue())
                add(key + ".0.jpg", jpeg.getvalue())
        sets.append((name, shard_dir, tar_records(os.path.join(shard_dir, name)),
                     [f"{directory}/sample-{i}" for i in range(3)]))
    return sets


def main():
    made = make_data_sets()
    tars = tar_variant_sets()
    ours = dump([path for _, path, _ in made] + [path for _, path, _, _ in tars])
    for (name, _, theirs), mine in zip(made, ours):
        compare(name, mine, theirs)
    for (name, _, theirs, keys), mine in zip(tars, ours[len(made):]):
        compare(name, mine, theirs)
        check([r.get("key") for r in mine] == keys, f"{name}: keys {[r.get('key') for r in mine]}")
    if FAILURES:
        print(f"{len(FAILURES)} failure(s)")
        sys.exit(1)
    print("data readers agree with Python's json/tarfile/PIL on every format")


if __name__ == "__main__":
    main()
