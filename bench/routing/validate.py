#!/usr/bin/env python3
"""Checks bench/routing/utterances.jsonl and prints its counts.

    python3 bench/routing/validate.py            # check, then print the counts
    python3 bench/routing/validate.py --markdown # the same counts as Markdown tables (README)

Exits non-zero on the first file that breaks a rule; prints every broken line first.
Only the Python standard library is used.
"""

import json
import re
import sys
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "utterances.jsonl"
# `--holdout`: the hold-out set instead, whose ids are `ho-NNN` whatever the intent.
HOLDOUT = HERE / "holdout.jsonl"
GENERATE_RS = HERE.parent.parent / "services/search-agent/src/catalog/generate.rs"

INTENTS = {"payment.pay": "pay", "search.search": "search", "none": "none"}
ENTITY_KEYS = {
    "payment.pay": {"amount", "order_id"},
    "search.search": {"query", "category", "min_price", "max_price"},
    "none": set(),
}
CATEGORIES = {
    "electronics", "books", "home", "kitchen", "sports", "clothing",
    "toys", "beauty", "garden", "office", "pets", "automotive",
}
# ISO 4217 codes the set uses; add one here when a line needs it.
CURRENCIES = {
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "BRL", "MXN", "PLN",
    "SEK", "CNY", "RUB", "TRY", "INR", "VND", "IDR", "THB",
}
# The tag vocabulary (plus `multilingual:<ISO 639-1>`): a misspelt tag is an error, not a new tag.
TAGS = {
    # what the message is (mostly for `none`)
    "refund", "order-status", "payment-status", "cancellation", "order-change", "account",
    "shop-info", "dispute", "complaint", "handoff", "out-of-scope", "chit-chat", "greeting",
    "thanks", "joke", "weather", "math", "gibberish", "injection",
    "money-non-request",  # mentions money, payments, amounts or orders, but asks to pay nothing now
    # surface form
    "baseline", "typo", "no-verb", "fragment", "question", "polite", "slang", "long",
    "mixed-case", "emoji", "punctuation", "code-switching", "no-spaces", "word-order",
    "follow-up-shaped", "negation", "self-correction", "ambiguous",
    "no-diacritics",  # a language that has diacritics, typed without them (Vietnamese "tra tien don")
    # money and numbers
    "number-format", "currency-word", "iso-code", "symbol", "symbol-after", "glued",
    "k-suffix", "magnitude-word", "spelled-number", "cents", "no-currency", "negative-amount",
    "number-confusion", "no-amount", "amount-present",
    # payments
    "order-id", "order-id-style", "invoice", "bill", "send-money", "product-word",
    # search
    "price-bound", "price-range", "approx-price", "category-word", "category-synonym",
    "two-categories", "category-trap", "not-in-catalog", "number-in-query", "unit-trap",
    "two-products", "buy",
    # words of the other skills in a message that is not theirs
    "payment-word", "search-word",
}
MULTILINGUAL = re.compile(r"^multilingual:[a-z]{2}$")
MAIN_TAGS = [
    "typo", "multilingual", "no-verb", "fragment", "question", "polite", "slang", "long",
    "mixed-case", "emoji", "follow-up-shaped", "negation", "ambiguous", "injection",
    "number-format", "currency-word", "iso-code", "k-suffix", "magnitude-word",
    "spelled-number", "no-currency", "number-confusion", "no-amount", "order-id-style",
    "price-bound", "price-range", "category-synonym", "two-categories", "category-trap",
    "not-in-catalog", "payment-word", "search-word", "amount-present", "refund",
    "order-status", "cancellation", "account", "shop-info", "chit-chat", "greeting", "thanks",
]


def decimal(value):
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+(\.\d+)?", value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def check_money(obj, where, errors):
    if not isinstance(obj, dict) or set(obj) != {"value", "currency"}:
        errors.append(f"{where}: must be {{\"value\", \"currency\"}}")
        return None
    if decimal(obj["value"]) is None:
        errors.append(f"{where}.value {obj['value']!r} is not a plain decimal string")
    cur = obj["currency"]
    if cur is not None and cur not in CURRENCIES:
        errors.append(f"{where}.currency {cur!r} is neither null nor a known ISO 4217 code")
    return obj


def check_line(n, line, seen_ids, seen_texts, errors):
    where = f"line {n}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        errors.append(f"{where}: not JSON ({e})")
        return None
    if not isinstance(row, dict):
        errors.append(f"{where}: not an object")
        return None
    extra = set(row) - {"id", "text", "intent", "entities", "tags"}
    missing = {"id", "text", "intent", "tags"} - set(row)
    if extra or missing:
        errors.append(f"{where}: keys: extra {sorted(extra)}, missing {sorted(missing)}")
        return None
    rid, text, intent = row["id"], row["text"], row["intent"]
    where = f"line {n} ({rid})"
    if intent not in INTENTS:
        errors.append(f"{where}: intent {intent!r}")
        return None
    if not re.fullmatch(rf"{INTENTS[intent]}-\d{{3}}", str(rid)):
        errors.append(f"{where}: id must be {INTENTS[intent]}-NNN for {intent}")
    if rid in seen_ids:
        errors.append(f"{where}: duplicate id")
    seen_ids.add(rid)
    if not isinstance(text, str) or not text.strip():
        errors.append(f"{where}: empty text")
    elif text in seen_texts:
        errors.append(f"{where}: duplicate text {text!r}")
    seen_texts.add(text)

    tags = row["tags"]
    if not isinstance(tags, list) or not tags or len(set(tags)) != len(tags):
        errors.append(f"{where}: tags must be a non-empty list without repeats")
    else:
        for t in tags:
            if t not in TAGS and not MULTILINGUAL.match(str(t)):
                errors.append(f"{where}: unknown tag {t!r} (add it to TAGS if meant)")

    ents = row.get("entities", {})
    if not isinstance(ents, dict):
        errors.append(f"{where}: entities must be an object")
        return row
    bad = set(ents) - ENTITY_KEYS[intent]
    if bad:
        errors.append(f"{where}: entities {sorted(bad)} not allowed for {intent}")
    if "amount" in ents:
        check_money(ents["amount"], f"{where} amount", errors)
    if "order_id" in ents:
        oid = ents["order_id"]
        if not isinstance(oid, str) or not oid or "#" in oid or " " in oid:
            errors.append(f"{where}: order_id {oid!r} (no '#', no spaces)")
        elif oid not in text:
            # Ids are copied as written (typos elsewhere in the message are fine).
            errors.append(f"{where}: order_id {oid!r} does not occur in the text")
    if "query" in ents:
        q = ents["query"]
        if not isinstance(q, str) or not q.strip() or q != q.lower() or q != q.strip():
            errors.append(f"{where}: query {q!r} must be non-empty, trimmed, lower case")
    if "category" in ents and (not isinstance(ents["category"], str) or ents["category"] not in CATEGORIES):
        errors.append(f"{where}: category {ents['category']!r} is not canonical")
    lo = check_money(ents["min_price"], f"{where} min_price", errors) if "min_price" in ents else None
    hi = check_money(ents["max_price"], f"{where} max_price", errors) if "max_price" in ents else None
    if lo and hi and decimal(lo["value"]) is not None and decimal(hi["value"]) is not None:
        if lo["currency"] == hi["currency"] and decimal(lo["value"]) > decimal(hi["value"]):
            errors.append(f"{where}: min_price above max_price")
    if intent == "search.search" and not ents:
        errors.append(f"{where}: a search with no entity at all")
    return row


def catalog_categories():
    """The canonical categories as generate.rs declares them, when the file is there."""
    try:
        src = GENERATE_RS.read_text(encoding="utf-8")
    except OSError:
        return None
    body = src.split("fn category_synonyms", 1)[-1]
    return set(re.findall(r'^\s*"([a-z]+)" =>', body, re.M))


def table(title, counter, total):
    rows = [f"| {title} | lines | share |", "|---|---:|---:|"]
    for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
        rows.append(f"| `{key}` | {count} | {100 * count / total:.1f} % |")
    return "\n".join(rows)


def main():
    markdown = "--markdown" in sys.argv[1:]
    holdout = "--holdout" in sys.argv[1:]
    data = HOLDOUT if holdout else DATA
    errors, rows = [], []
    seen_ids, seen_texts = set(), set()
    with data.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                errors.append(f"line {n}: blank line")
                continue
            row = check_line(n, line, seen_ids, seen_texts, errors)
            if holdout:
                errors[:] = [e for e in errors if "id must be" not in e]
                if row and not re.fullmatch(r"ho-\d{3}", row["id"]):
                    errors.append(f"line {n}: id must be ho-NNN in the hold-out set")
            if row:
                rows.append(row)
    declared = catalog_categories()
    if declared is not None and declared != CATEGORIES:
        errors.append(f"generate.rs declares categories {sorted(declared)}, expected {sorted(CATEGORIES)}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        print(f"{len(errors)} error(s) in {data}", file=sys.stderr)
        return 1

    total = len(rows)
    intents = Counter(r["intent"] for r in rows)
    tags = Counter(t for r in rows for t in r["tags"])
    langs = Counter(t.split(":", 1)[1] for r in rows for t in r["tags"] if t.startswith("multilingual:"))
    multilingual = sum(any(t.startswith("multilingual:") for t in r["tags"]) for r in rows)
    typo = sum("typo" in r["tags"] for r in rows)
    cats = Counter(r.get("entities", {}).get("category") for r in rows if r["intent"] == "search.search")
    ents = Counter(k for r in rows for k in r.get("entities", {}))
    currencies = Counter(
        v["currency"] or "null"
        for r in rows
        for k, v in r.get("entities", {}).items()
        if k in ("amount", "min_price", "max_price")
    )
    main_tags = Counter()
    for r in rows:
        for t in r["tags"]:
            main_tags["multilingual" if t.startswith("multilingual:") else t] += 1
    per_intent = {
        i: Counter(("multilingual" if t.startswith("multilingual:") else t) for r in rows if r["intent"] == i for t in r["tags"])
        for i in INTENTS
    }

    if markdown:
        print(table("intent", intents, total))
        print()
        print(f"Multilingual: {multilingual} lines ({100 * multilingual / total:.1f} %); "
              f"with typos: {typo} lines ({100 * typo / total:.1f} %).")
        print()
        print(table("language (`multilingual:*`)", langs, total))
        print()
        head = "| tag | all | payment.pay | search.search | none |\n|---|---:|---:|---:|---:|"
        body = [
            f"| `{t}` | {main_tags[t]} | {per_intent['payment.pay'][t]} | "
            f"{per_intent['search.search'][t]} | {per_intent['none'][t]} |"
            for t in sorted(main_tags, key=lambda t: (-main_tags[t], t))
        ]
        print(head + "\n" + "\n".join(body))
        print()
        print(table("search category", Counter({(k or "(none)"): v for k, v in cats.items()}), intents["search.search"]))
        print()
        print(table("entity key", ents, total))
        print()
        print(table("currency (amounts and bounds)", currencies, sum(currencies.values())))
        return 0

    print(f"{data.relative_to(HERE.parent.parent)}: {total} lines, all valid")
    for i in INTENTS:
        print(f"  {i:14} {intents[i]:4}")
    print(f"  multilingual   {multilingual:4}  ({100 * multilingual / total:.1f} %)  {dict(sorted(langs.items()))}")
    print(f"  typo           {typo:4}  ({100 * typo / total:.1f} %)")
    print("main tags (all / pay / search / none):")
    for t in MAIN_TAGS:
        print(f"  {t:18} {main_tags[t]:4} {per_intent['payment.pay'][t]:4} "
              f"{per_intent['search.search'][t]:4} {per_intent['none'][t]:4}")
    print("search categories:", dict(sorted((((k or "(none)"), v) for k, v in cats.items()), key=lambda kv: -kv[1])))
    print("currencies:", dict(currencies.most_common()))
    rare = [t for t in sorted(tags) if t not in MAIN_TAGS and not t.startswith("multilingual:")]
    print("other tags:", {t: tags[t] for t in rare})
    return 0


if __name__ == "__main__":
    sys.exit(main())
