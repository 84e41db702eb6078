"""PostgreSQL: the searched words of each product stored as a `tsvector`, indexed.

Migration 0007 indexed an expression that folds the words into a vector; matching a row
outside the index (a page walking the name index, `ts_rank` for relevance) computed that
vector again for every row, which at 200,000 products cost more than the rest of the
request (`benchmarks.scale`, "search navy"). A generated column computes it once per write.
SQLite searches without a vector (resolvers.search).

GIN keeps new entries in a pending list that every search reads whole, until a vacuum
(or the list's limit, 4 MB by default) merges it into the index: after a bulk write of
20,000 products that list held half of them, and PostgreSQL rightly preferred reading
the table. The smallest limit (64 kB) keeps that read short; writes barely slow (a
bulk insert of 20,000 products took the same time within noise).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

from resolvers.search import VECTOR


async def store_search_vector(apps, schema_editor) -> None:
    if schema_editor.client.capabilities.dialect != "postgres":
        return
    await schema_editor.client.execute_script(
        'ALTER TABLE "product" ADD COLUMN IF NOT EXISTS "search_vector" tsvector '
        f"GENERATED ALWAYS AS ({VECTOR}) STORED;"
        'CREATE INDEX IF NOT EXISTS "product_search_vector_idx" ON "product" '
        'USING GIN ("search_vector") WITH (gin_pending_list_limit = 64);'
        'DROP INDEX IF EXISTS "product_search_idx"'
    )


async def compute_search_vector(apps, schema_editor) -> None:
    if schema_editor.client.capabilities.dialect != "postgres":
        return
    await schema_editor.client.execute_script(
        f'CREATE INDEX IF NOT EXISTS "product_search_idx" ON "product" USING GIN ({VECTOR});'
        'ALTER TABLE "product" DROP COLUMN IF EXISTS "search_vector"'
    )


class Migration(migrations.Migration):
    dependencies = [("storefront", "0007_catalog_search")]

    initial = False

    operations = [
        ops.RunPython(store_search_vector, compute_search_vector),
    ]
