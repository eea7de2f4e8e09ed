#!/usr/bin/env python3
"""Generate crates/kapi-api/src/protobuf/schema.rs: the descriptor table of the protobuf decoder.

kubectl 1.32+ sends protobuf request bodies for built-in kinds. kapi decodes them with one generic
wire-format decoder driven by a static table of messages and fields. This script builds that table
from two sources of facts at the same Kubernetes release:

* `generated.proto` of kubernetes/api and kubernetes/apimachinery: field numbers, proto types,
  repeated/map, and the declaration order (which follows the Go struct order, i.e. JSON order);
* the Go struct tags in the same packages (`json:"name,omitempty" protobuf:"bytes,1,..."`):
  the JSON name, `omitempty`/`omitzero`, `json:",inline"` (proto nests a message, JSON flattens it)
  and whether the Go field is a pointer. go-to-protobuf always writes non-pointer fields, even
  when zero; Go's JSON encoder drops them when they are zero and tagged `omitempty`. The table
  carries that rule per field so the decoded JSON equals what a JSON client would have sent.

Only messages reachable from the top-level kinds of the group versions in GROUP_VERSIONS are
emitted. Nothing from the sources is copied except names and numbers.

Usage (sources are the plain trees of the two repositories at one tag):

    git clone --depth 1 -b v0.34.10 https://github.com/kubernetes/api /tmp/k8s-src/api
    git clone --depth 1 -b v0.34.10 https://github.com/kubernetes/apimachinery /tmp/k8s-src/apimachinery
    python3 tools/gen_proto_schema.py --src /tmp/k8s-src --tag v0.34.10 \
        [--check-openapi ~/.cargo/registry/src/*/k8s-openapi-0.26.1/src/v1_34] \
        > crates/kapi-api/src/protobuf/schema.rs

`--check-openapi` cross-checks every emitted JSON name against the k8s-openapi crate's
deserializers and fails on a mismatch (diagnostics go to stderr).
"""

import argparse
import os
import re
import sys

# (apiVersion, Go/proto package directory relative to --src). Every top-level kind (a struct that
# embeds metav1.TypeMeta, except *List) of these group versions is decodable.
GROUP_VERSIONS = [
    ("v1", "api/core/v1"),
    ("apps/v1", "api/apps/v1"),
    ("batch/v1", "api/batch/v1"),
    ("autoscaling/v1", "api/autoscaling/v1"),
    ("autoscaling/v2", "api/autoscaling/v2"),
    ("rbac.authorization.k8s.io/v1", "api/rbac/v1"),
    ("authentication.k8s.io/v1", "api/authentication/v1"),
    ("authorization.k8s.io/v1", "api/authorization/v1"),
    ("policy/v1", "api/policy/v1"),
    ("networking.k8s.io/v1", "api/networking/v1"),
    ("scheduling.k8s.io/v1", "api/scheduling/v1"),
    ("coordination.k8s.io/v1", "api/coordination/v1"),
    ("certificates.k8s.io/v1", "api/certificates/v1"),
    ("storage.k8s.io/v1", "api/storage/v1"),
    ("discovery.k8s.io/v1", "api/discovery/v1"),
    ("events.k8s.io/v1", "api/events/v1"),
    ("node.k8s.io/v1", "api/node/v1"),
]

# Top-level structs that are never request bodies (internal or read-only); *List and *Options
# (query parameter structs) are skipped too.
NOT_REQUEST_BODIES = {"RangeAllocation", "SerializedReference", "PodStatusResult", "ComponentStatus"}

# Extra kinds outside those group versions.
EXTRA_KINDS = [
    ("meta.k8s.io/v1", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
]

# Messages whose JSON form is not an object of their proto fields.
META = "k8s.io.apimachinery.pkg.apis.meta.v1."
SPECIAL = {
    META + "Time": "Time",
    META + "MicroTime": "MicroTime",
    META + "Duration": "Duration",
    META + "FieldsV1": "RawJson",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawJson",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
}

SCALARS = {"string": "Str", "bytes": "Bytes", "bool": "Bool", "int32": "I32", "int64": "I64"}


def die(msg):
    print("gen_proto_schema: " + msg, file=sys.stderr)
    sys.exit(1)


def pkg_to_dir(pkg):
    if pkg.startswith("k8s.io.api."):
        return "api/" + pkg[len("k8s.io.api."):].replace(".", "/")
    if pkg.startswith("k8s.io.apimachinery."):
        return "apimachinery/" + pkg[len("k8s.io.apimachinery."):].replace(".", "/")
    die("unknown proto package " + pkg)


def dir_to_pkg(d):
    if d.startswith("api/"):
        return "k8s.io.api." + d[4:].replace("/", ".")
    return "k8s.io.apimachinery." + d[len("apimachinery/"):].replace("/", ".")


# ---------------------------------------------------------------- proto files


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


FIELD_RE = re.compile(r"^(optional|repeated|required)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(\[[^\]]*\])?\s*;$")
MAP_RE = re.compile(r"^map\s*<\s*([\w.]+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;$")


def parse_proto(src, d, messages, loaded):
    """Parse <src>/<d>/generated.proto (and its imports) into messages[full_name]."""
    if d in loaded:
        return
    loaded.add(d)
    path = os.path.join(src, d, "generated.proto")
    try:
        text = strip_comments(open(path, encoding="utf-8").read())
    except OSError as e:
        die(f"cannot read {path}: {e}")
    m = re.search(r"^\s*package\s+([\w.]+)\s*;", text, re.M)
    if not m:
        die("no package in " + path)
    pkg = m.group(1)
    if pkg_to_dir(pkg) != d:
        die(f"{path}: package {pkg} does not match its directory")
    for imp in re.findall(r'^\s*import\s+"([^"]+)"\s*;', text, re.M):
        if imp.startswith("k8s.io/api/"):
            parse_proto(src, "api/" + imp[len("k8s.io/api/"):].rsplit("/", 1)[0], messages, loaded)
        elif imp.startswith("k8s.io/apimachinery/"):
            parse_proto(src, "apimachinery/" + imp[len("k8s.io/apimachinery/"):].rsplit("/", 1)[0], messages, loaded)
        else:
            die(f"{path}: unexpected import {imp}")
    # Messages are flat in these files (no nesting, enums, oneofs or extensions); check that.
    for kw in ("enum ", "oneof ", "extend ", "group "):
        if re.search(r"^\s*" + kw, text, re.M):
            die(f"{path}: unsupported construct {kw.strip()}")
    pos = 0
    for mm in re.finditer(r"\bmessage\s+(\w+)\s*\{", text):
        if mm.start() < pos:
            die(f"{path}: nested message {mm.group(1)}")
        end = text.index("}", mm.end())
        body = text[mm.end():end]
        if "{" in body:
            die(f"{path}: nested block in message {mm.group(1)}")
        pos = end
        fields = []
        for stmt in body.split(";"):
            stmt = " ".join(stmt.split())
            if not stmt:
                continue
            stmt += ";"
            fm = FIELD_RE.match(stmt)
            mp = MAP_RE.match(stmt)
            if fm:
                label, typ, name, num, opts = fm.groups()
                if opts and "packed" in opts:
                    die(f"{path}: packed option on {name}")
                fields.append({"label": label, "type": resolve(pkg, typ), "name": name, "num": int(num)})
            elif mp:
                kt, vt, name, num = mp.groups()
                if kt != "string":
                    die(f"{path}: map key type {kt}")
                fields.append({"label": "map", "type": resolve(pkg, vt), "name": name, "num": int(num)})
            else:
                die(f"{path}: cannot parse {stmt!r} in message {mm.group(1)}")
        full = pkg + "." + mm.group(1)
        if full in messages:
            die("duplicate message " + full)
        messages[full] = {"pkg": pkg, "name": mm.group(1), "fields": fields}


def resolve(pkg, typ):
    if typ in SCALARS:
        return typ
    if typ in ("double", "float", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64"):
        die(f"scalar type {typ} is not supported by the decoder")
    if typ.startswith("."):
        return typ[1:]
    if "." in typ:
        die("relative qualified type " + typ)
    return pkg + "." + typ


# ---------------------------------------------------------------- Go struct tags

STRUCT_RE = re.compile(r"^type\s+(\w+)\s+struct\s*\{\s*$")
GOFIELD_RE = re.compile(r"^\s+(?:(\w+)\s+)?([^\s`]+)\s+`([^`]*)`\s*(?://.*)?$")
TAG_RE = re.compile(r'(\w+):"([^"]*)"')


def parse_go_dir(src, d):
    """Return (structs, slice_types) for the Go package in <src>/<d>.

    structs[name] = {"fields": {proto_num: info}, "kind": bool (embeds TypeMeta inline)}
    """
    structs, slices = {}, set()
    path = os.path.join(src, d)
    for fn in sorted(os.listdir(path)):
        if not fn.endswith(".go") or fn.endswith("_test.go") or fn.startswith("zz_generated") or fn.startswith("generated"):
            continue
        lines = open(os.path.join(path, fn), encoding="utf-8").read().split("\n")
        i = 0
        while i < len(lines):
            line = lines[i]
            sm = re.match(r"^type\s+(\w+)\s+\[\]", line)
            if sm:
                slices.add(sm.group(1))
            m = STRUCT_RE.match(line)
            i += 1
            if not m:
                continue
            name = m.group(1)
            info = {"fields": {}, "kind": False}
            while i < len(lines) and lines[i] != "}":
                fl = lines[i]
                i += 1
                if fl.strip().startswith("//"):
                    continue
                fm = GOFIELD_RE.match(fl)
                if not fm:
                    continue
                fname, gotype, tag = fm.groups()
                tags = dict(TAG_RE.findall(tag))
                js = tags.get("json")
                if fname is None and gotype.endswith("TypeMeta") and js is not None and "inline" in js.split(","):
                    info["kind"] = True
                pb = tags.get("protobuf")
                if pb is None or pb == "-":
                    continue
                parts = pb.split(",")
                try:
                    num = int(parts[1])
                except (IndexError, ValueError):
                    die(f"{d}/{fn}: bad protobuf tag {pb!r}")
                pbname = next((p[5:] for p in parts if p.startswith("name=")), None)
                jparts = js.split(",") if js is not None else [None]
                info["fields"][num] = {
                    "json": jparts[0],
                    "omitempty": "omitempty" in jparts[1:],
                    "omitzero": "omitzero" in jparts[1:],
                    "inline": "inline" in jparts[1:],
                    "pointer": gotype.startswith("*"),
                    "pbname": pbname,
                    "go": f"{name}.{fname or gotype}",
                }
            structs[name] = info
    return structs, slices


# ---------------------------------------------------------------- k8s-openapi cross-check


def openapi_keys(root):
    """Map (group dir like 'api/core/v1', struct name) -> set of JSON keys its deserializer accepts."""
    out = {}
    for dirpath, _, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for fn in files:
            if not fn.endswith(".rs"):
                continue
            text = open(os.path.join(dirpath, fn), encoding="utf-8").read()
            sm = re.search(r"^pub struct (\w+)", text, re.M)
            if not sm:
                continue
            keys = set(re.findall(r'"([^"]+)" => Field::Key_', text))
            out[(rel, sm.group(1))] = keys
    return out


# ---------------------------------------------------------------- main


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, help="directory holding api/ and apimachinery/ trees")
    ap.add_argument("--tag", required=True, help="release tag of those trees (recorded in the output)")
    ap.add_argument("--check-openapi", help="k8s-openapi src/v1_XX directory to cross-check JSON names")
    args = ap.parse_args()

    messages, loaded = {}, set()
    for _, d in GROUP_VERSIONS:
        parse_proto(args.src, d, messages, loaded)

    go = {}
    for d in sorted(loaded):
        go[dir_to_pkg(d)] = parse_go_dir(args.src, d)

    # Roots: top-level kinds.
    kinds = []
    for api_version, d in GROUP_VERSIONS:
        pkg = dir_to_pkg(d)
        structs, _ = go[pkg]
        for name in sorted(structs):
            if name.endswith("List") or name.endswith("Options") or name in NOT_REQUEST_BODIES:
                continue
            if structs[name]["kind"] and (pkg + "." + name) in messages:
                kinds.append((api_version, name, pkg + "." + name))
    for api_version, kind, full in EXTRA_KINDS:
        if full not in messages:
            die("missing message " + full)
        kinds.append((api_version, kind, full))
    kinds.sort()

    # Reachable messages, in a stable order (sorted by full name).
    # The special messages are always present so the decoder's table covers every kind of them.
    reach, todo = set(), [k[2] for k in kinds] + sorted(SPECIAL)
    while todo:
        full = todo.pop()
        if full in reach:
            continue
        if full not in messages:
            die("unresolved message " + full)
        reach.add(full)
        if full in SPECIAL:
            continue
        for f in messages[full]["fields"]:
            if f["type"] not in SCALARS:
                todo.append(f["type"])
    order = sorted(reach)
    index = {full: i for i, full in enumerate(order)}
    if len(order) > 65535:
        die("too many messages")

    check = openapi_keys(args.check_openapi) if args.check_openapi else None
    problems = []
    inline_edges = []  # (parent message, inlined message)
    emitted_names = {}  # message -> JSON names of its fields

    out = []
    w = out.append
    w("// @generated by tools/gen_proto_schema.py from kubernetes/api and kubernetes/apimachinery")
    w(f"// {args.tag} (generated.proto field numbers and types; Go struct tags for JSON names,")
    w("// omitempty, inline and pointers). Do not edit; rerun the script (see its docstring).")
    w("")
    w("use super::table::{f, m, Kind::*, Message, Ty::*, INLINE, OMIT, REP};")
    w("")
    w("/// Every message reachable from a decodable kind, sorted by full proto name.")
    w(f"pub(crate) static MESSAGES: [Message; {len(order)}] = [")
    stats = {"fields": 0}
    for i, full in enumerate(order):
        msg = messages[full]
        pkg = msg["pkg"]
        structs, slices = go.get(pkg, ({}, set()))
        gs = structs.get(msg["name"])
        kind = SPECIAL.get(full, "Struct")
        if kind == "Struct" and msg["name"] in slices:
            fs = msg["fields"]
            if len(fs) != 1 or fs[0]["name"] != "items" or fs[0]["label"] != "repeated":
                die(f"{full}: named slice type without a single repeated items field")
            kind = "Items"
        w(f"    // {i}")
        w(f"    m({rust_str(full)}, {kind}, &[")
        if kind == "Struct" and gs is None and msg["fields"]:
            problems.append(f"{full}: no Go struct found; using proto names")
        ok_names = None
        if check is not None and kind == "Struct":
            ok_names = check.get((pkg_to_dir(pkg), msg["name"]))
            if ok_names is None and msg["fields"]:
                problems.append(f"{full}: no k8s-openapi struct to check against")
        for fld in msg["fields"]:
            typ = fld["type"]
            if fld["label"] == "map":
                ty = {"string": "MapStr", "bytes": "MapBytes"}.get(typ)
                if ty is None:
                    if typ in SCALARS:
                        die(f"{full}.{fld['name']}: map value type {typ}")
                    ty = f"MapMsg({index[typ]})"
            elif typ in SCALARS:
                ty = SCALARS[typ]
            else:
                ty = f"Msg({index[typ]})"
            flags = []
            if fld["label"] == "repeated":
                flags.append("REP")
            json_name = fld["name"]
            if kind == "Struct" and gs is not None:
                gf = gs["fields"].get(fld["num"])
                if gf is None:
                    die(f"{full}: proto field {fld['name']} = {fld['num']} has no Go field")
                if gf["pbname"] is not None and gf["pbname"] != fld["name"]:
                    die(f"{full}: proto name {fld['name']} != Go tag name {gf['pbname']}")
                if gf["json"] is None:
                    die(f"{gf['go']}: protobuf tag without json tag")
                if gf["json"] == "-":
                    continue  # not part of the JSON form
                if gf["inline"]:
                    if typ in SCALARS or fld["label"] != "optional":
                        die(f"{gf['go']}: inline field is not a message")
                    flags.append("INLINE")
                    json_name = ""
                else:
                    json_name = gf["json"]
                    if json_name == "":
                        die(f"{gf['go']}: empty json name")
                # A zero value of a Go non-pointer field is written on the wire but dropped by
                # Go's JSON encoder when the field is omitempty (scalars) or omitzero (any).
                if fld["label"] == "optional" and not gf["pointer"] and not gf["inline"]:
                    if (typ in SCALARS and (gf["omitempty"] or gf["omitzero"])) or gf["omitzero"]:
                        flags.append("OMIT")
                if gf["inline"]:
                    inline_edges.append((full, typ))
                if ok_names is not None and json_name and json_name not in ok_names:
                    problems.append(f"{full}.{json_name}: not a JSON key in k8s-openapi ({sorted(ok_names)})")
            emitted_names.setdefault(full, []).append(json_name)
            flag = "|".join(flags) if flags else "0"
            w(f"        f({fld['num']}, {rust_str(json_name)}, {ty}, {flag}),")
            stats["fields"] += 1
        w("    ]),")
    w("];")
    w("")
    # Fields of an inlined message must be JSON keys of the parent's k8s-openapi struct.
    if check is not None:
        for parent, child in inline_edges:
            ok_names = check.get((pkg_to_dir(messages[parent]["pkg"]), messages[parent]["name"]))
            if ok_names is None:
                continue
            for name in emitted_names.get(child, []):
                if name and name not in ok_names:
                    problems.append(f"{child}.{name} (inline in {parent}): not a JSON key in k8s-openapi")
                if name:
                    problems = [p for p in problems if not p.startswith(child + ": no k8s-openapi")]
    w("/// Decodable kinds: (apiVersion, kind, index into MESSAGES), sorted.")
    w(f"pub(crate) static KINDS: [(&str, &str, u16); {len(kinds)}] = [")
    for api_version, kind, full in kinds:
        w(f"    ({rust_str(api_version)}, {rust_str(kind)}, {index[full]}),")
    w("];")
    w("")
    w("/// Index of meta.k8s.io/v1 DeleteOptions, which clients send under any group version.")
    w(f"pub(crate) const DELETE_OPTIONS: u16 = {index[META + 'DeleteOptions']};")
    sys.stdout.write("\n".join(out) + "\n")
    for p in sorted(set(problems)):
        print("warning: " + p, file=sys.stderr)
    print(f"gen_proto_schema: {len(kinds)} kinds, {len(order)} messages, {stats['fields']} fields", file=sys.stderr)
    if check is not None and any("not a JSON key" in p for p in problems):
        sys.exit(2)


if __name__ == "__main__":
    main()
