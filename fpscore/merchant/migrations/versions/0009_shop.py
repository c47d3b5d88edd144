"""shop: the reference storefront's catalogue (seeded with songs), customers' passwords, throttled
sign-in counts, and the pack a prepaid round trip funds when it comes back

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fpscore.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SONGS = [  # (title, artist, price in cents)
    ("Paper Lanterns", "The Quiet Harbours", 99),
    ("Northbound", "The Quiet Harbours", 99),
    ("Salt and Static", "Mira Vance", 129),
    ("Glasshouse", "Mira Vance", 99),
    ("Low Tide Radio", "Otto Brandt Trio", 99),
    ("Blue Hour", "Otto Brandt Trio", 129),
    ("Copper Wire", "Lumen Street", 99),
    ("Night Ferry", "Lumen Street", 99),
    ("Small Hours", "Ada & the Engines", 129),
    ("Lighthouse Keeper", "Ada & the Engines", 99),
    ("Tin Roof Rain", "June Okafor", 99),
    ("Open Water", "June Okafor", 129),
    ("Signal Fires", "Kestrel", 99),
    ("Cold Front", "Kestrel", 99),
    ("Orchard Road", "The Fernhill Band", 99),
    ("Weathervane", "The Fernhill Band", 129),
    ("Satellite Heart", "Nova Reyes", 129),
    ("Afterglow", "Nova Reyes", 99),
    ("Milk Run", "Hollow Pines", 99),
    ("Long Way Home", "Hollow Pines", 99),
    ("Static Bloom", "Echo Parade", 129),
    ("Neon Harbour", "Echo Parade", 99),
    ("Morning Papers", "Sol Brennan", 99),
    ("Second Wind", "Sol Brennan", 129),
    ("Driftwood", "The Tidewater Choir", 99),
    ("Undertow", "The Tidewater Choir", 99),
    ("Clockwork Summer", "Pip Anand", 129),
    ("Kite String", "Pip Anand", 99),
    ("Granite", "Black Fen", 99),
    ("Ember", "Black Fen", 129),
    ("Paper Planes", "Lotte & Lark", 99),
    ("Snowline", "Lotte & Lark", 99),
    ("Harbour Lights", "Marco Ilves", 129),
    ("Slow Dance", "Marco Ilves", 99),
    ("Last Tram", "The Late Arrivals", 99),
    ("Streetlamp Waltz", "The Late Arrivals", 129),
]


def upgrade() -> None:
    products = op.create_table(
        "shop_products",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("artist", sa.String(length=128), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint("price_cents > 0", name=op.f("ck_shop_products_price")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_products")),
    )
    op.create_table(
        "shop_accounts",
        sa.Column("customer_id", BIG_ID, nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_shop_accounts_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_shop_accounts")),
    )
    op.create_table(
        "shop_sign_in_failures",
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("expires_at", fpscore.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_shop_sign_in_failures")),
    )
    with op.batch_alter_table("shop_sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shop_sign_in_failures_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "shop_prepays",
        sa.Column("caller_reference_sender", sa.String(length=128), nullable=False),
        sa.Column("pack_cents", sa.BigInteger(), nullable=False),
        sa.Column("funded_at", fpscore.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["caller_reference_sender"],
            ["token_references.caller_reference_sender"],
            name=op.f("fk_shop_prepays_caller_reference_sender_token_references"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("caller_reference_sender", name=op.f("pk_shop_prepays")),
    )
    op.bulk_insert(
        products,
        [{"title": title, "artist": artist, "price_cents": cents, "currency": "USD"}
         for title, artist, cents in SONGS],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("shop_prepays")
    with op.batch_alter_table("shop_sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shop_sign_in_failures_expires_at"))
    op.drop_table("shop_sign_in_failures")
    op.drop_table("shop_accounts")
    op.drop_table("shop_products")
