"""pay function: the Pay as one PostgreSQL function call (one round trip; `fpscore.processor.pay_on_server`)

Revision ID: 0007
Revises: 0006

On PostgreSQL only; SQLite runs the Pay's statements in-process. The function claims the CallerReference,
reads and locks the sender token with its instrument, checks it, moves the instrument's account under its
guard and writes the transaction and its entries, in the order and with the locks of the Python path
(`fpscore.processor.actions`). It decides only whether a Pay may go on: a refusal answers `refused` with
the token's row (or `guard` when the balance would pass its bound) and leaves nothing behind (its claim is
deleted, and nothing else was written), so that Python raises the same error with the same message as the
in-process path. A replay answers the original transaction, a CallerReference naming another request
`duplicate`, a claim that vanished before it could be read `retry`.

With `p_defer` the caller's leg is not moved (the batch moves the callers' balances once, see
`ledger.apply_later`); without it both accounts move, in ascending id order, as `ledger.post` does.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = (
    "fps_pay(bigint, text, text, text, timestamptz, text, bigint, text, text, text, text, text, text,"
    " boolean)"
)

FUNCTION = """
CREATE FUNCTION fps_pay(
    p_caller_id bigint, p_reference text, p_digest text, p_transaction_id text, p_now timestamptz,
    p_token_id text, p_amount_cents bigint, p_currency text, p_caller_description text,
    p_sender_description text, p_status text, p_status_code text, p_status_message text,
    p_defer boolean,
    OUT outcome text, OUT existing_id text, OUT existing_status text,
    OUT token_id text, OUT role text, OUT token_status text, OUT caller_id bigint,
    OUT instrument_id text, OUT kind text, OUT instrument_status text, OUT account_id bigint,
    OUT currency text, OUT credit_limit_cents bigint, OUT purchase_limit_cents bigint,
    OUT valid_from timestamptz, OUT expires_at timestamptz, OUT balance_account_id bigint,
    OUT caller_ipn_url text)
LANGUAGE plpgsql AS $$
#variable_conflict error
DECLARE
    v_digest text;
    v_existing text;
    v_balance bigint;
    v_caller_balance bigint;
BEGIN
    INSERT INTO caller_references AS c
        (caller_id, action, caller_reference, request_digest, transaction_id, created_at)
    VALUES (p_caller_id, 'Pay', p_reference, p_digest, p_transaction_id, p_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT c.request_digest, c.transaction_id INTO v_digest, v_existing
        FROM caller_references AS c
        WHERE c.caller_id = p_caller_id AND c.action = 'Pay' AND c.caller_reference = p_reference;
        IF NOT FOUND THEN
            outcome := 'retry';
        ELSIF v_digest <> p_digest THEN
            outcome := 'duplicate';
        ELSE
            outcome := 'replay';
            existing_id := v_existing;
            SELECT t.status INTO existing_status FROM transactions AS t WHERE t.id = v_existing;
        END IF;
        RETURN;
    END IF;

    SELECT tk.id, tk.role, tk.status, tk.caller_id, i.id, i.kind, i.status, i.account_id, i.currency,
           i.credit_limit_cents, i.purchase_limit_cents, i.valid_from, i.expires_at,
           cl.balance_account_id, cl.ipn_url
    INTO token_id, role, token_status, caller_id, instrument_id, kind, instrument_status, account_id,
         currency, credit_limit_cents, purchase_limit_cents, valid_from, expires_at,
         balance_account_id, caller_ipn_url
    FROM tokens AS tk
    JOIN instruments AS i ON i.id = tk.instrument_id
    JOIN callers AS cl ON cl.id = i.caller_id
    JOIN buyers AS b ON b.id = i.buyer_id
    WHERE tk.id = p_token_id
    FOR NO KEY UPDATE OF tk;

    IF token_id IS NULL OR caller_id <> p_caller_id
       OR role NOT IN ('PrepaidSender', 'CreditSender')
       OR token_status <> 'Active'
       OR instrument_status <> 'Active'
       OR (valid_from IS NOT NULL AND p_now < valid_from)
       OR (expires_at IS NOT NULL AND p_now >= expires_at)
       OR p_amount_cents <= 0
       OR currency <> p_currency
       OR (kind <> 'Prepaid' AND p_amount_cents > purchase_limit_cents) THEN
        outcome := 'refused';
    ELSE
        -- Rows are locked in ascending id order, as ledger.post moves them: the caller's first when its
        -- id is lower (locked only: it moves once the guard has held).
        IF NOT p_defer AND balance_account_id < account_id THEN
            PERFORM 1 FROM ledger_accounts AS a WHERE a.id = balance_account_id FOR NO KEY UPDATE;
        END IF;
        IF kind = 'Prepaid' THEN  -- credit-normal: the Pay's debit lowers it, never below zero
            UPDATE ledger_accounts AS a SET balance_cents = a.balance_cents - p_amount_cents
            WHERE a.id = account_id AND a.balance_cents - p_amount_cents >= 0
            RETURNING a.balance_cents INTO v_balance;
        ELSE  -- debit-normal: the debt grows, up to the credit limit (none when NULL, as ledger.Guard)
            UPDATE ledger_accounts AS a SET balance_cents = a.balance_cents + p_amount_cents
            WHERE a.id = account_id AND a.balance_cents + p_amount_cents >= 0
              AND (credit_limit_cents IS NULL OR a.balance_cents + p_amount_cents <= credit_limit_cents)
            RETURNING a.balance_cents INTO v_balance;
        END IF;
        IF v_balance IS NULL THEN
            outcome := 'guard';
        END IF;
    END IF;
    IF outcome IS NOT NULL THEN  -- refused: nothing may stay behind
        DELETE FROM caller_references AS c
        WHERE c.caller_id = p_caller_id AND c.action = 'Pay' AND c.caller_reference = p_reference;
        RETURN;
    END IF;
    IF NOT p_defer THEN
        UPDATE ledger_accounts AS a SET balance_cents = a.balance_cents + p_amount_cents
        WHERE a.id = balance_account_id RETURNING a.balance_cents INTO v_caller_balance;
    END IF;

    INSERT INTO transactions
        (id, caller_id, operation, status, status_code, status_message, amount_cents, currency,
         fee_cents, refunded_cents, caller_reference, caller_description, sender_description,
         sender_token_id, instrument_id, payment_method, parent_id, created_at, completed_at)
    VALUES
        (p_transaction_id, p_caller_id, 'Pay', p_status, p_status_code, p_status_message,
         p_amount_cents, p_currency, 0, 0, p_reference, p_caller_description, p_sender_description,
         p_token_id, instrument_id, CASE WHEN kind = 'Prepaid' THEN 'Prepaid' ELSE 'Debt' END, NULL,
         p_now, p_now);
    INSERT INTO ledger_entries (transaction_id, account_id, amount_cents, balance_after_cents)
    VALUES (p_transaction_id, account_id, p_amount_cents, v_balance);
    IF NOT p_defer THEN
        INSERT INTO ledger_entries (transaction_id, account_id, amount_cents, balance_after_cents)
        VALUES (p_transaction_id, balance_account_id, -p_amount_cents, v_caller_balance);
    END IF;
    outcome := 'paid';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {SIGNATURE}")
