"""The movement registry names every movement table the merchant's schema has: a table with the columns
every movement shares (`schema._Movement`) that no `MovementKind` names would be left out of recovery,
reconciliation, notifications, the fee rollup and the back office."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, String, Table

from fpscore.merchant import movements
from fpscore.merchant.schema import Base, _Movement

MOVEMENT_COLUMNS = frozenset(_Movement.__annotations__)


def unnamed_movement_tables(metadata: MetaData) -> set[str]:
    """The tables of `metadata` that have every movement column but no kind in the registry."""
    named = {kind.table.name for kind in movements.KINDS}
    return {
        name
        for name, table in metadata.tables.items()
        if MOVEMENT_COLUMNS <= set(table.c.keys()) and name not in named
    }


def test_the_registry_names_every_movement_table_of_the_schema():
    assert MOVEMENT_COLUMNS >= {"caller_reference", "amount_cents", "status", "completed_at"}
    assert unnamed_movement_tables(Base.metadata) == set()
    assert {kind.table.name for kind in movements.KINDS} <= set(Base.metadata.tables)


def test_a_sixth_movement_table_the_registry_does_not_name_is_found():
    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    shared = [column for column in movements.PAY.table.c if column.name in MOVEMENT_COLUMNS]
    columns = [Column(column.name, column.type) for column in shared]
    Table("chargebacks", metadata, *columns, Column("dispute", String(64)), Column("x", BigInteger))
    assert unnamed_movement_tables(metadata) == {"chargebacks"}


def test_each_kind_is_one_operation_table_and_prefix():
    kinds = movements.KINDS
    for attribute in ("name", "operation", "prefix"):
        assert len({getattr(kind, attribute) for kind in kinds}) == len(kinds), attribute
    assert len({kind.table.name for kind in kinds}) == len(kinds)
    for kind in kinds:
        assert movements.of(kind.table) is kind and movements.BY_OPERATION[kind.operation] is kind
        assert set(kind.effect) == {"Prepaid", "Postpaid"}
        assert set(kind.effect.values()) <= {1, -1}
        for column in (kind.fee, kind.detail):
            assert column is None or column in kind.table.c
