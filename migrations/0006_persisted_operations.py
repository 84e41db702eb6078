from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('storefront', '0005_accounts_active')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PersistedOperation',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('body_sha256', fields.CharField(db_index=True, max_length=64)),
                ('body', fields.TextField(unique=False)),
                ('name', fields.CharField(null=True, max_length=200)),
                ('operation_type', fields.CharField(max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'persisted_operation', 'app': 'storefront', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
