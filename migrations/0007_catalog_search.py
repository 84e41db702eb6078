from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from resolvers.search import VECTOR, search_columns

BATCH = 2000


async def fill_search_columns(apps, schema_editor) -> None:
    """Fold the searched words of every existing product, a batch at a time."""
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    mark = (lambda n: f"${n}") if postgres else (lambda n: "?")
    last = 0
    while True:
        _, rows = await client.execute_query(
            f'SELECT "id", "name", "sku", "description" FROM "product" WHERE "id" > {mark(1)} '
            f'ORDER BY "id" LIMIT {BATCH}',
            [last],
        )
        if not rows:
            return
        for row in rows:
            columns = search_columns(row["name"], row["sku"], row["description"])
            await client.execute_query(
                f'UPDATE "product" SET "search_name" = {mark(1)}, "search_text" = {mark(2)} '
                f'WHERE "id" = {mark(3)}',
                [columns["search_name"], columns["search_text"], row["id"]],
            )
        last = rows[-1]["id"]


async def create_search_index(apps, schema_editor) -> None:
    """PostgreSQL: a full-text index over the folded words (resolvers.search). SQLite
    searches without one."""
    if schema_editor.client.capabilities.dialect != "postgres":
        return
    await schema_editor.client.execute_script(
        f'CREATE INDEX IF NOT EXISTS "product_search_idx" ON "product" USING GIN ({VECTOR})'
    )


async def drop_search_index(apps, schema_editor) -> None:
    await schema_editor.client.execute_script('DROP INDEX IF EXISTS "product_search_idx"')


class Migration(migrations.Migration):
    dependencies = [('storefront', '0006_persisted_operations')]

    initial = False

    operations = [
        ops.AddField(model_name='Product', name='search_name', field=fields.TextField(db_default='')),
        ops.AddField(model_name='Product', name='search_text', field=fields.TextField(db_default='')),
        ops.AddIndex(
            model_name='Category',
            index=Index(fields=['parent_id', 'name', 'id'], name='category_parent_name_idx'),
        ),
        ops.AddIndex(
            model_name='Product',
            index=Index(fields=['category_id', 'name', 'id'], name='product_category_name_idx'),
        ),
        ops.RunPython(fill_search_columns, ops.RunPython.noop),
        ops.RunPython(create_search_index, drop_search_index),
    ]
