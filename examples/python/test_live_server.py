"""A live healthcode server seen from Python's grpcio: answers checked against the rules
applied straight to the feeds (`healthcode explain`) and against `healthcode query`, the
standard health protocol, reflection, and credentials.

examples/ci.sh generates a small world, builds and serves it, and runs this file with:

  HEALTHCODE_TEST_SERVER  HOST:PORT of the running server
  HEALTHCODE_TEST_TOKENS  its tokens file (a `query` and an `admin` token)
  HEALTHCODE_TEST_FEEDS   the feed directory its index was built from (with truth.csv)
  HEALTHCODE_TEST_BIN     the healthcode binary (for `explain` and `query`)
  HEALTHCODE_TEST_TODAY   the server's --today
"""

import collections
import csv
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

sys.path.insert(0, str(Path(__file__).resolve().parent))
import healthcode_client as hc  # noqa: E402

ENV = ("SERVER", "TOKENS", "FEEDS", "BIN", "TODAY")
missing = [f"HEALTHCODE_TEST_{k}" for k in ENV if not os.environ.get(f"HEALTHCODE_TEST_{k}")]
if missing:
    raise RuntimeError(
        f"{', '.join(missing)} not set: run examples/ci.sh, which starts a server and sets them"
    )
SERVER, TOKENS, FEEDS, BIN, TODAY = (os.environ[f"HEALTHCODE_TEST_{k}"] for k in ENV)
FEEDS = Path(FEEDS)

pb2, pb2_grpc = hc.load_stubs()
QUERY = hc.first_token(TOKENS, "query")
ADMIN = hc.first_token(TOKENS, "admin")


def bearer(token):
    return [("authorization", f"Bearer {token}")]


@pytest.fixture(scope="module")
def channel():
    ch = hc.connect(SERVER)
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def codes(channel):
    return pb2_grpc.HealthCodeStub(channel)


@pytest.fixture(scope="module")
def persons():
    """Every person of the generated world: the ids of truth.csv, sorted."""
    with open(FEEDS / "truth.csv", newline="", encoding="utf-8") as f:
        return sorted({row["id_number"] for row in csv.DictReader(f)})


# -- document numbers ----------------------------------------------------------------------------

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def check_char(first17):
    """The check character of a resident ID (GB 11643, ISO 7064 MOD 11-2)."""
    return CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def unknown_ids(known, n):
    """Valid document numbers of nobody in the world: a known person's region and birth date
    with another sequence number, and the check character that goes with it."""
    known_set = set(known)
    out = []
    for base in known:
        for seq in range(999, 0, -1):
            first17 = f"{base[:14]}{seq:03d}"
            candidate = first17 + check_char(first17)
            if candidate not in known_set:
                out.append(candidate)
                break
        if len(out) == n:
            return out
    raise AssertionError("no unknown id could be made")


def wrong_check(id_number):
    """`id_number` with a wrong check character."""
    good = check_char(id_number[:17])
    return id_number[:17] + next(c for c in CHECK if c != good)


# -- the oracle: the rules applied straight to the feeds --------------------------------------

FINDING = re.compile(
    r"^  - (?P<reason>[A-Z_]+)(?: in .* \((?P<region>\d+)\))?(?:, risk area (?P<area>\d+))?"
    r", (?P<day>\d{4}-\d{2}-\d{2})(?:, phone ending (?P<tail>\d+))?, (?P<effect>blocks travel|popup)$"
)
HEAD = re.compile(r" as of (?P<day>\S+) under precision-aware: (?P<colour>[A-Z]+) · travel (?P<travel>allowed|NOT allowed)$")


@functools.lru_cache(maxsize=None)
def explain(id_number):
    """`healthcode explain` of one person under the server's policy and day, as
    (colour, travel allowed, known, [finding tuples]), or None for an invalid id."""
    out = subprocess.run(
        [BIN, "explain", "--feeds", str(FEEDS), "--today", TODAY, "--policy", "precision-aware", id_number],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        assert "id_number" in out.stderr, out.stderr
        return None
    lines = out.stdout.splitlines()
    if "no record in any feed" in lines[0]:
        return ("GREEN", True, False, ())
    head = HEAD.search(lines[0])
    assert head and head["day"] == TODAY, lines[0]
    findings = []
    for line in lines[1:]:
        m = FINDING.match(line)
        assert m, f"unparsed explain line: {line!r}"
        findings.append(
            (m["reason"], m["region"] or "", m["area"] or "", m["day"], m["tail"] or "", m["effect"] == "blocks travel")
        )
    return (head["colour"], head["travel"] == "allowed", True, tuple(findings))


def seen(r):
    """What a person reads off a CodeResponse, in explain's terms."""
    findings = [
        (
            pb2.Reason.Name(f.reason).removeprefix("REASON_"),
            f.region_code,
            f.risk_area_code,
            f.day,
            f.phone_tail,
            f.blocks_travel,
        )
        for f in r.findings
    ]
    return (pb2.Color.Name(r.color).removeprefix("COLOR_"), r.travel_allowed, r.known, tuple(findings))


@pytest.fixture(scope="module")
def sample(codes, persons):
    """A person of every kind of answer the world holds: each (colour, travel) pair and each
    reason, picked from one GetCodes answer for everyone."""
    batch = codes.GetCodes(pb2.BatchCodeRequest(id_numbers=persons), metadata=bearer(QUERY), timeout=60)
    assert len(batch.results) == len(persons)
    kinds = collections.defaultdict(list)
    for id_number, result in zip(persons, batch.results):
        assert result.valid, (id_number, result.error)
        c = result.code
        kinds[(c.color, c.travel_allowed)].append(id_number)
        for f in c.findings:
            kinds[f.reason].append(id_number)
    picked = sorted({ids[0] for ids in kinds.values()})
    colours = {pb2.Color.Name(k[0]) for k in kinds if isinstance(k, tuple)}
    # The generated world is made to hold all three colours; a sample without them tests little.
    assert colours == {"COLOR_GREEN", "COLOR_YELLOW", "COLOR_RED"}, colours
    return picked


# -- queries ---------------------------------------------------------------------------------------


def test_get_code_answers_what_the_rules_give_from_the_feeds(codes, sample):
    for id_number in sample:
        r = codes.GetCode(pb2.CodeRequest(id_number=id_number), metadata=bearer(QUERY), timeout=30)
        assert r.as_of == TODAY and r.data_as_of and r.index_generation >= 1
        assert seen(r) == explain(id_number), id_number


def test_get_codes_answers_each_id_in_order_like_get_code(codes, persons, sample):
    unknown = unknown_ids(persons, 3)
    invalid = [wrong_check(persons[0]), "12345", ""]
    ids = sample + unknown + invalid + sample[:1]
    batch = codes.GetCodes(pb2.BatchCodeRequest(id_numbers=ids), metadata=bearer(QUERY), timeout=60)
    assert len(batch.results) == len(ids)
    for id_number, result in zip(ids, batch.results):
        if id_number in invalid:
            assert not result.valid and result.error, (id_number, result)
            continue
        assert result.valid, (id_number, result.error)
        one = codes.GetCode(pb2.CodeRequest(id_number=id_number), metadata=bearer(QUERY), timeout=30)
        assert result.code == one, id_number


def test_an_unknown_person_is_green_and_not_known(codes, persons):
    for id_number in unknown_ids(persons, 3):
        r = codes.GetCode(pb2.CodeRequest(id_number=id_number), metadata=bearer(QUERY), timeout=30)
        assert (r.color, r.known, r.travel_allowed, list(r.findings)) == (pb2.COLOR_GREEN, False, True, [])
        assert explain(id_number) == ("GREEN", True, False, ())


def test_an_invalid_id_is_invalid_argument_naming_the_reason(codes, persons):
    bad = wrong_check(persons[0])
    with pytest.raises(grpc.RpcError) as e:
        codes.GetCode(pb2.CodeRequest(id_number=bad), metadata=bearer(QUERY), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "check character" in e.value.details()
    assert bad not in e.value.details(), "the error shows the whole document number"
    assert explain(bad) is None


def test_stream_codes_answers_one_per_request_in_order(codes, persons, sample):
    bad = wrong_check(persons[0])
    ids = sample[:3] + [bad] + sample[3:]
    answers = list(
        codes.StreamCodes(iter([pb2.CodeRequest(id_number=i) for i in ids]), metadata=bearer(QUERY), timeout=60)
    )
    assert len(answers) == len(ids)
    for id_number, r in zip(ids, answers):
        if id_number == bad:
            assert r.color == pb2.COLOR_UNSPECIFIED and r.error
        else:
            assert not r.error and seen(r) == explain(id_number), id_number


def test_the_client_prints_what_healthcode_query_prints(sample):
    for id_number in sample[:3]:
        ours = subprocess.run(
            [sys.executable, str(Path(hc.__file__)), "--server", SERVER, "--tokens", TOKENS, id_number],
            capture_output=True,
            text=True,
            timeout=60,
        )
        theirs = subprocess.run(
            [BIN, "query", id_number, "--server", SERVER, "--tokens", TOKENS],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ours.returncode == 0 and theirs.returncode == 0, (ours.stderr, theirs.stderr)
        assert ours.stdout == theirs.stdout
        assert "colour:" in ours.stdout and id_number not in ours.stdout


def test_admin_info_counts_every_person_of_the_world(channel, persons):
    info = pb2_grpc.AdminStub(channel).Info(pb2.InfoRequest(), metadata=bearer(ADMIN), timeout=30)
    assert info.persons == len(persons)
    assert info.data_as_of == TODAY and info.policy == "precision-aware" and info.generation >= 1


# -- the standard health protocol --------------------------------------------------------------


@pytest.mark.parametrize("service", ["", "healthcode.v1.HealthCode", "healthcode.v1.Admin"])
def test_health_check_is_serving_without_a_token(channel, service):
    r = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    assert r.status == health_pb2.HealthCheckResponse.SERVING


def test_health_check_of_an_unknown_service_is_not_found(channel):
    with pytest.raises(grpc.RpcError) as e:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_watch_reports_serving_first(channel):
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    try:
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    finally:
        watch.cancel()


# -- reflection --------------------------------------------------------------------------------


def test_reflection_lists_both_services_and_describes_them(channel):
    db = ProtoReflectionDescriptorDatabase(channel)
    services = db.get_services()
    for want in ("healthcode.v1.HealthCode", "healthcode.v1.Admin", "grpc.health.v1.Health"):
        assert want in services, services
    from google.protobuf.descriptor_pool import DescriptorPool

    pool = DescriptorPool(db)
    methods = {m.name: (m.input_type.full_name, m.output_type.full_name) for m in pool.FindServiceByName("healthcode.v1.HealthCode").methods}
    assert methods == {
        "GetCode": ("healthcode.v1.CodeRequest", "healthcode.v1.CodeResponse"),
        "GetCodes": ("healthcode.v1.BatchCodeRequest", "healthcode.v1.BatchCodeResponse"),
        "StreamCodes": ("healthcode.v1.CodeRequest", "healthcode.v1.CodeResponse"),
    }
    assert "Info" in [m.name for m in pool.FindServiceByName("healthcode.v1.Admin").methods]


# -- credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [[], bearer("not-a-token"), [("authorization", QUERY)], [("authorization", "Basic " + QUERY)]],
    ids=["none", "unknown token", "no Bearer", "Basic"],
)
def test_a_missing_or_invalid_token_is_unauthenticated(codes, channel, persons, metadata):
    calls = [
        lambda: codes.GetCode(pb2.CodeRequest(id_number=persons[0]), metadata=metadata, timeout=10),
        lambda: codes.GetCodes(pb2.BatchCodeRequest(id_numbers=persons[:2]), metadata=metadata, timeout=10),
        lambda: pb2_grpc.AdminStub(channel).Info(pb2.InfoRequest(), metadata=metadata, timeout=10),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_query_token_is_refused_by_admin(channel):
    with pytest.raises(grpc.RpcError) as e:
        pb2_grpc.AdminStub(channel).Info(pb2.InfoRequest(), metadata=bearer(QUERY), timeout=10)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
