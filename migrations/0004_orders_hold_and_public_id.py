from datetime import timedelta

from tortoise import migrations, timezone
from tortoise.migrations import operations as ops
from models.orders import CancelReason
from tortoise import fields
from tortoise.indexes import Index

# Orders already PENDING get one default hold (ORDER_HOLD_SECONDS' default) from the
# upgrade on, rather than expiring at the first sweep after it.
UPGRADE_HOLD = timedelta(seconds=1800)


async def fill_public_ids_and_holds(apps, schema_editor):
    """Give each existing order 128 random bits as its public id (one statement, in the
    database's own generator of random bytes), and each PENDING order a hold."""
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        random_hex, mark = "replace(gen_random_uuid()::text, '-', '')", "$1"
    else:
        random_hex, mark = "lower(hex(randomblob(16)))", "?"
    await client.execute_query(
        f'UPDATE "order" SET public_id = {random_hex} WHERE public_id IS NULL'
    )
    await client.execute_query(
        f'UPDATE "order" SET hold_expires_at = {mark} WHERE status = \'PENDING\'',
        [timezone.now() + UPGRADE_HOLD],
    )


class Migration(migrations.Migration):
    dependencies = [('storefront', '0003_oauth')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Order',
            name='cancel_reason',
            field=fields.CharEnumField(null=True, description='CUSTOMER: CUSTOMER\nSTAFF: STAFF\nEXPIRED: EXPIRED', enum_type=CancelReason, max_length=16),
        ),
        ops.AddField(
            model_name='Order',
            name='hold_expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # Added empty, filled, then made required and unique.
        ops.AddField(
            model_name='Order',
            name='public_id',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.RunPython(fill_public_ids_and_holds),
        ops.AlterField(
            model_name='Order',
            name='public_id',
            field=fields.CharField(unique=True, max_length=32),
        ),
        ops.AddIndex(
            model_name='Order',
            index=Index(fields=['status', 'hold_expires_at'], name='order_hold_idx'),
        ),
        # SQLite applies AlterField by rebuilding the table, and Tortoise 1.1.9's rebuild
        # drops the table's indexes and composite unique constraints (as in 0002). Put
        # them back; on PostgreSQL they already exist under these names.
        ops.RunSQL(
            [
                'CREATE UNIQUE INDEX IF NOT EXISTS "uid_order_custome_fd25fc" ON "order" ("customer_id", "idempotency_key")',
                'CREATE INDEX IF NOT EXISTS "order_customer_id_idx" ON "order" ("customer_id", "id")',
                'CREATE INDEX IF NOT EXISTS "order_status_id_idx" ON "order" ("status", "id")',
            ]
        ),
    ]
