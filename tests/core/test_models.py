"""The batch as the outbox stores it: the hand-written to_dict says what dataclasses.asdict would, in JSON."""

import json
from dataclasses import asdict, fields

from labmon.models import READING_FIELDS, Batch, Reading, Result, trusted_reading

BATCH = Batch(
    3,
    1.5,
    (Result("q", "t1", 2.0, (Reading("a", 1.0, "V", instrument="i"), Reading.failed("b", "x"))),),
    ("t2",),
    ("t3",),
)


def test_to_dict_is_asdict_in_json():
    assert json.dumps(BATCH.to_dict()) == json.dumps(asdict(BATCH))


def test_to_dict_names_every_field_so_a_new_one_cannot_be_forgotten():
    data = BATCH.to_dict()
    assert set(data) == {f.name for f in fields(Batch)}
    assert set(data["results"][0]) == {f.name for f in fields(Result)}
    assert set(data["results"][0]["readings"][0]) == {f.name for f in fields(Reading)}


def test_a_batch_round_trips_and_names_its_series():
    assert Batch.from_dict(json.loads(json.dumps(BATCH.to_dict()))) == BATCH
    assert [s for s, *_ in BATCH.series()] == ["t1/i/a", "t1//b"]
    assert BATCH.rows() == [("t1", BATCH.results[0].readings[0], 2.0), ("t1", BATCH.results[0].readings[1], 2.0)]


def test_a_trusted_reading_is_the_reading_the_constructor_makes():
    made = trusted_reading("a", 1.0, "V", "ok", None, "i")
    assert made == Reading("a", 1.0, "V", "ok", None, "i")
    # every field is set (a slot never set raises AttributeError): a new field cannot be forgotten
    assert tuple(f.name for f in fields(Reading)) == READING_FIELDS
    assert [getattr(made, f.name) for f in fields(Reading)] == ["a", 1.0, "V", "ok", None, "i"]
    assert hash(made) == hash(Reading("a", 1.0, "V", "ok", None, "i"))
