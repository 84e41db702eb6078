from tortoise import migrations
from tortoise.migrations import operations as ops
from models.orders import OrderStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Category',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('slug', fields.CharField(unique=True, max_length=200)),
                ('parent', fields.ForeignKeyField('storefront.Category', source_field='parent_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'category', 'app': 'storefront', 'indexes': [Index(fields=['name', 'id'], name='category_name_id_idx')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Product',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('sku', fields.CharField(unique=True, max_length=64)),
                ('name', fields.CharField(max_length=200)),
                ('slug', fields.CharField(unique=True, max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('price_minor', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('stock', fields.IntField(default=0)),
                ('category', fields.ForeignKeyField('storefront.Category', source_field='category_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='products', on_delete=OnDelete.SET_NULL)),
                ('review_count', fields.IntField(default=0)),
                ('rating_total', fields.IntField(default=0)),
                ('rating_average', fields.FloatField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'product', 'app': 'storefront', 'indexes': [Index(fields=['name', 'id'], name='product_name_id_idx'), Index(fields=['price_minor', 'id'], name='product_price_id_idx'), Index(fields=['created_at', 'id'], name='product_created_id_idx'), Index(fields=['rating_average', 'id'], name='product_rating_id_idx'), Index(fields=['stock'], name='product_stock_idx')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('name', fields.CharField(max_length=200)),
                ('password_hash', fields.CharField(null=True, max_length=255)),
                ('is_staff', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'user', 'app': 'storefront', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Order',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('customer', fields.ForeignKeyField('storefront.User', source_field='customer_id', db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.RESTRICT)),
                ('status', fields.CharEnumField(default=OrderStatus.PENDING, description='PENDING: PENDING\nPAID: PAID\nSHIPPED: SHIPPED\nDELIVERED: DELIVERED\nCANCELLED: CANCELLED', enum_type=OrderStatus, max_length=16)),
                ('idempotency_key', fields.CharField(null=True, max_length=128)),
                ('total_minor', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'order', 'app': 'storefront', 'unique_together': (('customer', 'idempotency_key'),), 'indexes': [Index(fields=['customer_id', 'id'], name='order_customer_id_idx'), Index(fields=['status', 'id'], name='order_status_id_idx')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrderItem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('storefront.Order', source_field='order_id', db_index=True, db_constraint=True, to_field='id', related_name='items', on_delete=OnDelete.CASCADE)),
                ('product', fields.ForeignKeyField('storefront.Product', source_field='product_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='order_items', on_delete=OnDelete.SET_NULL)),
                ('quantity', fields.IntField()),
                ('unit_price_minor', fields.BigIntField()),
            ],
            options={'table': 'order_item', 'app': 'storefront', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Review',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('rating', fields.SmallIntField()),
                ('body', fields.TextField(default='', unique=False)),
                ('author', fields.ForeignKeyField('storefront.User', source_field='author_id', db_index=True, db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.CASCADE)),
                ('product', fields.ForeignKeyField('storefront.Product', source_field='product_id', db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'review', 'app': 'storefront', 'unique_together': (('author', 'product'),), 'indexes': [Index(fields=['product_id', 'id'], name='review_product_id_idx')], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
