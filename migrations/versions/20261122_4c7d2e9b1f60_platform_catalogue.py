"""Platform catalogue: the fifteen platforms every registry starts with.

Revision ID: 4c7d2e9b1f60
Revises: 9a1e53c1639f
Create Date: 2026-11-22 01:05:00.000000

A data migration with its own frozen copy of the catalogue: app/services/catalogue.py may
change later, this revision must not. Rows whose slug or name is already taken are left alone
(a database seeded with `flask platforms seed` before this revision existed upgrades cleanly).
The downgrade deletes exactly these slugs, except a platform still used by a profile or an
account: deleting that would break foreign keys, and losing an inventory is worse than keeping
a catalogue row.
"""
import json
from datetime import datetime, timezone

from alembic import context, op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4c7d2e9b1f60'
down_revision = '9a1e53c1639f'
branch_labels = None
depends_on = None


platforms = sa.table(
    'platforms',
    sa.column('id', sa.Integer()),
    sa.column('name', sa.String(120)),
    sa.column('slug', sa.String(60)),
    sa.column('role_names', sa.JSON()),
    sa.column('delegated_access', sa.Boolean()),
    sa.column('owner_hint', sa.Text()),
    sa.column('rotation_days', sa.Integer()),
    sa.column('created_at', sa.DateTime(timezone=True)),
    sa.column('updated_at', sa.DateTime(timezone=True)),
    sa.column('version', sa.Integer()),
)
# Offline (`--sql`) scripts cannot render a JSON parameter as a literal: there the list goes in as JSON text.
platforms_as_text = sa.table(
    'platforms',
    *[sa.column(c.name, sa.Text() if c.name == 'role_names' else c.type) for c in platforms.columns],
)
profiles = sa.table('profiles', sa.column('platform_id', sa.Integer()))
accounts = sa.table('accounts', sa.column('platform_id', sa.Integer()))

# (name, slug, role names top first, delegated access, owner hint, rotation days), frozen 2026-11-22.
CATALOGUE = [
    ('Facebook', 'facebook', ['admin', 'editor', 'moderator', 'advertiser', 'analyst'], True,
     'A Facebook Page is created from a personal profile, and that profile keeps full control '
     'until it hands it on. Record the profile or business portfolio that holds full control today.', 365),
    ('Instagram', 'instagram', ['owner', 'full control', 'partial access'], True,
     'An Instagram account is its own login: whoever holds its username, email or phone and password '
     'owns it. Adding it to a Meta business portfolio lets people work with their own access instead.', 365),
    ('X', 'x', ['owner', 'admin', 'contributor'], True,
     'An X (formerly Twitter) account is one login: whoever holds its email, phone and password owns it. '
     'Others can be delegated admin or contributor access without learning the password.', 365),
    ('YouTube', 'youtube',
     ['owner', 'manager', 'editor', 'editor (limited)', 'subtitle editor', 'viewer', 'viewer (limited)'], True,
     "A YouTube channel belongs to a Google Account, or to a Brand Account whose primary owner is one. "
     "If that is someone's personal Google Account, the channel goes wherever they go.", 365),
    ('LinkedIn', 'linkedin',
     ['super admin', 'content admin', 'analyst', 'sponsored content poster', 'lead gen forms manager'], True,
     'A LinkedIn Page has no single owner: its super admins control it, and each must be a personal '
     'LinkedIn member. Keep at least two, so the Page is not lost when one leaves.', 365),
    ('Flickr', 'flickr', ['owner', 'admin', 'moderator'], False,
     'A Flickr account is a single login that everyone who posts shares. '
     'Other people can only be admins or moderators of its groups.', 365),
    ('TikTok', 'tiktok', ['owner', 'admin', 'operator', 'analyst'], True,
     "A TikTok account is one login, often signed up with someone's own phone number. "
     'Adding it to a TikTok Business Center lets people work with their own roles instead of sharing it.', 365),
    ('Mastodon', 'mastodon', ['owner', 'admin', 'moderator'], False,
     'A Mastodon account is a single login on one server: whoever holds its email and password owns it. '
     'If you run your own server, its Owner role controls every account on it.', 365),
    ('Bluesky', 'bluesky', ['owner'], False,
     'A Bluesky account is a single login (email and password). '
     "If its handle is your domain, whoever controls the domain's DNS controls the handle too.", 365),
    ('WordPress', 'wordpress', ['administrator', 'editor', 'author', 'contributor', 'subscriber'], True,
     'Any administrator controls a WordPress site, and the hosting account controls the administrators. '
     'Record the administrator login the site was installed with as the owner.', 180),
    ('Google Workspace', 'google-workspace',
     ['super admin', 'user management admin', 'groups admin', 'help desk admin', 'services admin', 'user'], True,
     'The organisation owns its Workspace through its domain; super admins control every mailbox in it. '
     "Keep two super admins, neither of them anyone's everyday account.", 180),
    ('Domain registrar', 'domain-registrar', ['account owner', 'admin contact', 'technical contact', 'billing contact'], True,
     'Whoever controls the registrar account controls the domain, and with it the website, the email '
     'and every password reset sent there. The registrant should be the organisation, not a person.', 180),
    ('DNS', 'dns', ['owner', 'administrator', 'dns editor', 'read only'], True,
     "The DNS host decides where the domain's web and mail traffic goes; it is often the registrar itself. "
     'Its owner can redirect mail, and so reset the password of any account that uses the domain.', 180),
    ('Mailing list', 'mailing-list', ['owner', 'admin', 'manager', 'author', 'viewer'], True,
     'A mailing list service has one owner, who holds the contract and the billing. '
     "Subscribers' addresses and consent live there, so the owner should be the organisation.", 365),
    ('Other', 'other', ['owner', 'admin', 'editor', 'viewer'], False,
     'The owner is the identity holding the top role: the one that can add or remove everyone else '
     'and close the account.', 365),
]
SLUGS = [entry[1] for entry in CATALOGUE]


def upgrade():
    offline = context.is_offline_mode()
    taken_slugs, taken_names = set(), set()
    if not offline:
        for slug, name in op.get_bind().execute(sa.select(platforms.c.slug, platforms.c.name)):
            taken_slugs.add(slug.lower())
            taken_names.add(name.lower())
    now = datetime.now(timezone.utc)
    rows = [
        {
            'name': name,
            'slug': slug,
            'role_names': json.dumps(role_names) if offline else role_names,
            'delegated_access': delegated_access,
            'owner_hint': owner_hint,
            'rotation_days': rotation_days,
            'created_at': now,
            'updated_at': now,
            'version': 1,
        }
        for name, slug, role_names, delegated_access, owner_hint, rotation_days in CATALOGUE
        if slug not in taken_slugs and name.lower() not in taken_names
    ]
    if rows:
        op.bulk_insert(platforms_as_text if offline else platforms, rows)


def downgrade():
    in_use = sa.union(sa.select(profiles.c.platform_id), sa.select(accounts.c.platform_id))
    op.execute(
        platforms.delete().where(platforms.c.slug.in_(SLUGS), platforms.c.id.not_in(in_use))
    )
