from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('storefront', '0001_initial')]

    initial = False

    operations = [
        ops.AddConstraint(
            model_name='Order',
            constraint=CheckConstraint(check='total_minor >= 0', name='order_total_non_negative'),
        ),
        ops.AddConstraint(
            model_name='OrderItem',
            constraint=CheckConstraint(check='quantity > 0', name='order_item_quantity_positive'),
        ),
        ops.AddConstraint(
            model_name='OrderItem',
            constraint=CheckConstraint(check='unit_price_minor >= 0', name='order_item_price_non_negative'),
        ),
        ops.AddConstraint(
            model_name='Product',
            constraint=CheckConstraint(check='stock >= 0', name='product_stock_non_negative'),
        ),
        ops.AddConstraint(
            model_name='Product',
            constraint=CheckConstraint(check='price_minor >= 0', name='product_price_non_negative'),
        ),
        ops.AddConstraint(
            model_name='Product',
            constraint=CheckConstraint(check='review_count >= 0', name='product_review_count_non_negative'),
        ),
        ops.AddConstraint(
            model_name='Review',
            constraint=CheckConstraint(check='rating >= 1 AND rating <= 5', name='review_rating_range'),
        ),
        # SQLite applies AddConstraint by rebuilding the table, and Tortoise 1.1.9's rebuild
        # drops the table's indexes and composite unique constraints. Put them back; on
        # PostgreSQL they already exist under these names and nothing changes.
        ops.RunSQL(
            [
                'CREATE INDEX IF NOT EXISTS "idx_product_categor_2b519b" ON "product" ("category_id")',
                'CREATE INDEX IF NOT EXISTS "product_name_id_idx" ON "product" ("name", "id")',
                'CREATE INDEX IF NOT EXISTS "product_price_id_idx" ON "product" ("price_minor", "id")',
                'CREATE INDEX IF NOT EXISTS "product_created_id_idx" ON "product" ("created_at", "id")',
                'CREATE INDEX IF NOT EXISTS "product_rating_id_idx" ON "product" ("rating_average", "id")',
                'CREATE INDEX IF NOT EXISTS "product_stock_idx" ON "product" ("stock")',
                'CREATE UNIQUE INDEX IF NOT EXISTS "uid_order_custome_fd25fc" ON "order" ("customer_id", "idempotency_key")',
                'CREATE INDEX IF NOT EXISTS "order_customer_id_idx" ON "order" ("customer_id", "id")',
                'CREATE INDEX IF NOT EXISTS "order_status_id_idx" ON "order" ("status", "id")',
                'CREATE INDEX IF NOT EXISTS "idx_order_item_order_i_a417da" ON "order_item" ("order_id")',
                'CREATE INDEX IF NOT EXISTS "idx_order_item_product_595086" ON "order_item" ("product_id")',
                'CREATE UNIQUE INDEX IF NOT EXISTS "uid_review_author__9160be" ON "review" ("author_id", "product_id")',
                'CREATE INDEX IF NOT EXISTS "idx_review_author__e5ee3c" ON "review" ("author_id")',
                'CREATE INDEX IF NOT EXISTS "review_product_id_idx" ON "review" ("product_id", "id")',
            ]
        ),
    ]
