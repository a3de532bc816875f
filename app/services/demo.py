"""The demo organisation, Riverside Public Library: the field stories of DESIGN.md as data.

Every risk the registry looks for is here beside good practice, so each page has something to
show: Dana Whitfield left two years ago and her personal profile still owns the Facebook Page;
Sam Ortiz keeps the "Riverside Reads" persona and added his own profile as an admin; Jo Kim
answers patrons from @jo_reads, through which Hootsuite is connected to @riversidelib; Priya
Natarajan leaves in two weeks and is the only admin of the YouTube channel. Meanwhile the
Eastside Page, the kids' Instagram, the Storytime channel and the DNS belong to organisation
profiles, as they should. In the vault, Dana revealed the registrar password while renewing the
domain and nobody has changed it since, and Priya revealed the channel's backup codes last month:
both must be rotated.

Records are created through the services where they exist, with the caller's actor, so the
history pages read as they would in real use. Profiles, custodians and departments are written
directly (with their audit events) because this module must not depend on services still being
written. All dates are relative to today.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models.account import Account, AccountStatus, RecoveryKind
from app.models.credential import CredentialKind, CredentialNote, CredentialReveal
from app.models.person import Department, Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile, ProfileCustodian, ProfileKind
from app.models.user import Role, User
from app.services import accounts, audit, credentials, people, permissions, users
from app.services.catalogue import CATALOGUE, ensure_catalogue
from app.services.context import Actor
from app.services.errors import ValidationFailed

ORGANISATION = "Riverside Public Library"
DOMAIN = "riverside.example"
#: Every demo sign-in's password (printed by `make run`; the demo is not for real data).
DEMO_PASSWORD = "lantern-orchid-demo-7"  # noqa: S105 (a published demo password, not a secret)

PERSONAL = ProfileKind.PERSONAL
PERSONA = ProfileKind.PERSONA
SHARED = ProfileKind.SHARED_LOGIN
ORG = ProfileKind.ORGANISATION
EMAIL = RecoveryKind.EMAIL
PHONE = RecoveryKind.PHONE
CODES = RecoveryKind.BACKUP_CODES_HOLDER
TRUSTED = RecoveryKind.TRUSTED_CONTACT

#: (name, description); heads are set once the people exist.
DEPARTMENTS = (
    ("Administration", "The director's office, HR, finance and facilities."),
    ("Adult Services", "Reference, adult programmes, local history and the book club."),
    ("Children & Teens", "Storytimes, homework help, the teen space and summer reading."),
    ("Digital Services", "Systems, the website, the catalogue and digital media."),
    ("Communications", "Social media, the newsletter, design and press."),
    ("Branch: Eastside", "The Eastside branch library on Harbour Road."),
)
HEADS = {
    "Administration": "Margaret Osei",
    "Adult Services": "Grace Liu",
    "Children & Teens": "Fiona MacLeod",
    "Digital Services": "Tom Reyes",
    "Communications": "Helen Park",
    "Branch: Eastside": "Ruth Adeyemi",
}


@dataclass(frozen=True)
class DemoPerson:
    name: str
    job_title: str
    department: str
    manager: str | None = None
    personal_email: str | None = None
    personal_phone: str | None = None
    status: PersonStatus = PersonStatus.ACTIVE
    #: Leaving: days until the last day. Departed: days since they left.
    days: int = 0


# Managers come before the people they manage. Phone numbers are in the 555-01xx range kept
# for fiction; personal inboxes are on mail.example.
PEOPLE = (
    DemoPerson("Margaret Osei", "Library Director", "Administration"),
    DemoPerson("Alan Brooks", "HR Manager", "Administration", "Margaret Osei"),
    DemoPerson("Rosa Delgado", "Finance and Operations Officer", "Administration", "Margaret Osei", "rosa.delgado@mail.example"),
    DemoPerson(
        "Helen Park", "Communications Manager", "Communications", "Margaret Osei", "helen.park@mail.example", "+1 202-555-0101"
    ),
    DemoPerson("Grace Liu", "Head of Adult Services", "Adult Services", "Margaret Osei"),
    DemoPerson("Fiona MacLeod", "Head of Children & Teens", "Children & Teens", "Margaret Osei"),
    DemoPerson(
        "Tom Reyes", "Digital Services Manager", "Digital Services", "Margaret Osei", "tom.reyes@mail.example", "+1 202-555-0104"
    ),
    DemoPerson("Ruth Adeyemi", "Branch Manager, Eastside", "Branch: Eastside", "Margaret Osei", None, "+1 202-555-0106"),
    DemoPerson(
        "Dana Whitfield",
        "Communications Coordinator",
        "Communications",
        "Helen Park",
        personal_email="dana.whitfield@mail.example",
        personal_phone="+1 202-555-0142",
        status=PersonStatus.DEPARTED,
        days=730,
    ),
    DemoPerson(
        "Jo Kim", "Outreach and Social Media Librarian", "Communications", "Helen Park", "jo.kim@mail.example", "+1 202-555-0123"
    ),
    DemoPerson("Marcus Bell", "Graphic Designer", "Communications", "Helen Park"),
    DemoPerson("Hannah Stein", "Marketing Assistant", "Communications", "Helen Park"),
    DemoPerson(
        "Priya Natarajan",
        "Digital Media Librarian",
        "Digital Services",
        "Tom Reyes",
        personal_email="priya.natarajan@mail.example",
        personal_phone="+1 202-555-0131",
        status=PersonStatus.LEAVING,
        days=14,
    ),
    DemoPerson("Kevin O'Neill", "Systems Administrator", "Digital Services", "Tom Reyes", "kevin.oneill@mail.example"),
    DemoPerson("Aisha Rahman", "IT Support Technician", "Digital Services", "Tom Reyes"),
    DemoPerson("Leo Fischer", "Web Developer", "Digital Services", "Tom Reyes"),
    DemoPerson("Sam Ortiz", "Reference Librarian", "Adult Services", "Grace Liu", "sam.ortiz@mail.example", "+1 202-555-0117"),
    DemoPerson("Omar Haddad", "Adult Programmes Coordinator", "Adult Services", "Grace Liu", "omar.haddad@mail.example"),
    DemoPerson("Beatrice Nwosu", "Local History Librarian", "Adult Services", "Grace Liu"),
    DemoPerson("Carlos Mendes", "Library Assistant", "Adult Services", "Grace Liu"),
    DemoPerson("Ethan Brown", "Teen Services Librarian", "Children & Teens", "Fiona MacLeod", None, "+1 202-555-0119"),
    DemoPerson("Lily Chen", "Children's Librarian", "Children & Teens", "Fiona MacLeod"),
    DemoPerson(
        "Ben Carter",
        "Teen Services Assistant",
        "Children & Teens",
        "Fiona MacLeod",
        personal_email="ben.carter@mail.example",
        personal_phone="+1 202-555-0177",
        status=PersonStatus.DEPARTED,
        days=200,
    ),
    DemoPerson("Daniel Kowalski", "Branch Librarian", "Branch: Eastside", "Ruth Adeyemi"),
    DemoPerson("Maya Singh", "Library Assistant", "Branch: Eastside", "Ruth Adeyemi", None, "+1 202-555-0124"),
    DemoPerson("Noah Williams", "Library Page", "Branch: Eastside", "Ruth Adeyemi"),
)

#: One sign-in per role, each linked to a person of the organisation.
SIGN_INS = (
    ("admin@riverside.example", Role.ADMIN, "Kevin O'Neill"),
    ("director@riverside.example", Role.DIRECTOR, "Margaret Osei"),
    ("hr@riverside.example", Role.HR, "Alan Brooks"),
    ("it@riverside.example", Role.IT, "Aisha Rahman"),
    ("staff@riverside.example", Role.STAFF, "Jo Kim"),
)


@dataclass(frozen=True)
class DemoProfile:
    key: str
    platform: str
    kind: ProfileKind
    name: str
    handle: str = ""
    holder: str | None = None
    signup_email: str = ""
    custodians: tuple[str, ...] = ()
    speaks_for_organisation: bool = False
    notes: str = ""
    #: Days ago the custodians took it on.
    since_days: int = 365


PROFILES = (
    # Facebook
    DemoProfile(
        "fb.dana",
        "facebook",
        PERSONAL,
        "Dana Whitfield",
        handle="facebook.com/dana.whitfield",
        holder="Dana Whitfield",
        signup_email="dana.whitfield@mail.example",
        notes="Dana's own profile. She created the library's Page from it in her first week, as Facebook requires.",
    ),
    DemoProfile("fb.sam", "facebook", PERSONAL, "Sam Ortiz", handle="facebook.com/sam.ortiz", holder="Sam Ortiz"),
    DemoProfile("fb.helen", "facebook", PERSONAL, "Helen Park", handle="facebook.com/helenpark.rpl", holder="Helen Park"),
    DemoProfile("fb.ruth", "facebook", PERSONAL, "Ruth Adeyemi", handle="facebook.com/ruth.adeyemi", holder="Ruth Adeyemi"),
    DemoProfile("fb.daniel", "facebook", PERSONAL, "Daniel Kowalski", handle="facebook.com/dkowalski", holder="Daniel Kowalski"),
    DemoProfile("fb.ben", "facebook", PERSONAL, "Ben Carter", handle="facebook.com/ben.carter.teen", holder="Ben Carter"),
    DemoProfile("fb.omar", "facebook", PERSONAL, "Omar Haddad", handle="facebook.com/omar.haddad", holder="Omar Haddad"),
    DemoProfile(
        "fb.reads",
        "facebook",
        PERSONA,
        "Riverside Reads",
        handle="facebook.com/riverside.reads",
        signup_email="reference@riverside.example",
        custodians=("Sam Ortiz",),
        notes="Made from the reference desk mailbox so the Page could be run without anyone's own profile (Facebook allows one profile per person, so this bends its rules).",
        since_days=2900,
    ),
    DemoProfile(
        "fb.portfolio",
        "facebook",
        ORG,
        "Riverside Public Library business portfolio",
        handle="business.facebook.com (ID 4418 2093 7716)",
        signup_email="digital@riverside.example",
        notes="The library's Meta business portfolio: Pages it holds stay with the library whoever leaves.",
    ),
    # Instagram
    DemoProfile(
        "ig.comms",
        "instagram",
        SHARED,
        "Communications team login",
        handle="comms@riverside.example",
        signup_email="comms@riverside.example",
        custodians=("Helen Park", "Jo Kim", "Marcus Bell"),
        since_days=1500,
    ),
    DemoProfile(
        "ig.portfolio",
        "instagram",
        ORG,
        "Riverside Public Library business portfolio",
        handle="business.facebook.com (ID 4418 2093 7716)",
        signup_email="digital@riverside.example",
    ),
    DemoProfile("ig.marcus", "instagram", PERSONAL, "Marcus Bell", handle="@marcusdraws", holder="Marcus Bell"),
    DemoProfile("ig.ethan", "instagram", PERSONAL, "Ethan Brown", handle="@mr.brown.reads", holder="Ethan Brown"),
    DemoProfile("ig.lily", "instagram", PERSONAL, "Lily Chen", handle="@lilychen.storytime", holder="Lily Chen"),
    DemoProfile(
        "ig.maya",
        "instagram",
        PERSONAL,
        "Maya Singh",
        handle="@maya.s",
        holder="Maya Singh",
        signup_email="maya.singh@riverside.example",
    ),
    DemoProfile("ig.ruth", "instagram", PERSONAL, "Ruth Adeyemi", handle="@ruth.adeyemi", holder="Ruth Adeyemi"),
    # X
    DemoProfile(
        "x.jo",
        "x",
        PERSONAL,
        "Jo Kim",
        handle="@jo_reads",
        holder="Jo Kim",
        signup_email="jo.kim@mail.example",
        speaks_for_organisation=True,
        notes="Jo answers patrons from here whenever the library is mentioned; many of them follow Jo, not the library.",
    ),
    DemoProfile(
        "x.comms",
        "x",
        SHARED,
        "@riversidelib sign-in",
        handle="comms@riverside.example",
        signup_email="comms@riverside.example",
        custodians=("Helen Park", "Jo Kim"),
        since_days=1200,
    ),
    # YouTube
    DemoProfile(
        "yt.priya",
        "youtube",
        PERSONAL,
        "Priya Natarajan",
        handle="@priyanmakes",
        holder="Priya Natarajan",
        signup_email="priya.natarajan@mail.example",
        notes="Priya's own Google Account; the channel's Brand Account was created under it.",
    ),
    DemoProfile(
        "yt.brand",
        "youtube",
        ORG,
        "Riverside Public Library Brand Account",
        handle="youtube@riverside.example",
        signup_email="digital@riverside.example",
    ),
    DemoProfile("yt.lily", "youtube", PERSONAL, "Lily Chen", handle="lily.chen@riverside.example", holder="Lily Chen"),
    DemoProfile(
        "yt.fiona", "youtube", PERSONAL, "Fiona MacLeod", handle="fiona.macleod@riverside.example", holder="Fiona MacLeod"
    ),
    # LinkedIn
    DemoProfile(
        "li.margaret", "linkedin", PERSONAL, "Margaret Osei", handle="linkedin.com/in/margaret-osei", holder="Margaret Osei"
    ),
    DemoProfile("li.helen", "linkedin", PERSONAL, "Helen Park", handle="linkedin.com/in/helen-park-comms", holder="Helen Park"),
    DemoProfile("li.alan", "linkedin", PERSONAL, "Alan Brooks", handle="linkedin.com/in/alanbrooks-hr", holder="Alan Brooks"),
    # Flickr
    DemoProfile(
        "fl.localhistory",
        "flickr",
        SHARED,
        "Local history login",
        handle="localhistory@riverside.example",
        signup_email="localhistory@riverside.example",
        custodians=("Beatrice Nwosu", "Carlos Mendes"),
        since_days=2000,
    ),
    DemoProfile(
        "fl.dana", "flickr", PERSONAL, "Dana Whitfield", handle="flickr.com/people/danaw_photos", holder="Dana Whitfield"
    ),
    # TikTok
    DemoProfile(
        "tt.rivvy",
        "tiktok",
        PERSONA,
        "Rivvy the Reading Raccoon",
        handle="@rivvyreads",
        signup_email="teens@riverside.example",
        custodians=("Ethan Brown", "Ben Carter"),
        notes="The teen space's mascot. Ben signed it up with his own phone number.",
        since_days=900,
    ),
    DemoProfile(
        "tt.ethan",
        "tiktok",
        PERSONAL,
        "Ethan Brown",
        handle="@ethan_booktok",
        holder="Ethan Brown",
        speaks_for_organisation=True,
        notes="Ethan's own BookTok; teens follow him and ask him about library events there.",
    ),
    # WordPress
    DemoProfile(
        "wp.wpadmin",
        "wordpress",
        SHARED,
        "wpadmin",
        handle="wpadmin",
        signup_email="webmaster@riverside.example",
        custodians=("Kevin O'Neill", "Leo Fischer"),
        notes="The administrator the site was installed with; its password has not changed since.",
        since_days=1000,
    ),
    DemoProfile("wp.leo", "wordpress", PERSONAL, "Leo Fischer", handle="lfischer", holder="Leo Fischer"),
    DemoProfile("wp.helen", "wordpress", PERSONAL, "Helen Park", handle="hpark", holder="Helen Park"),
    DemoProfile("wp.marcus", "wordpress", PERSONAL, "Marcus Bell", handle="mbell", holder="Marcus Bell"),
    DemoProfile("wp.lily", "wordpress", PERSONAL, "Lily Chen", handle="lilyc", holder="Lily Chen"),
    # Google Workspace
    DemoProfile("gw.org", "google-workspace", ORG, "riverside.example Google Workspace", handle="riverside.example"),
    DemoProfile(
        "gw.breakglass",
        "google-workspace",
        SHARED,
        "Break-glass super admin",
        handle="admin-breakglass@riverside.example",
        signup_email="admin-breakglass@riverside.example",
        custodians=("Margaret Osei", "Tom Reyes"),
        notes="Used only when every other super admin is locked out; sealed envelope in the director's safe.",
        since_days=1500,
    ),
    DemoProfile(
        "gw.kevin", "google-workspace", PERSONAL, "Kevin O'Neill", handle="kevin.oneill@riverside.example", holder="Kevin O'Neill"
    ),
    DemoProfile("gw.tom", "google-workspace", PERSONAL, "Tom Reyes", handle="tom.reyes@riverside.example", holder="Tom Reyes"),
    DemoProfile(
        "gw.aisha", "google-workspace", PERSONAL, "Aisha Rahman", handle="aisha.rahman@riverside.example", holder="Aisha Rahman"
    ),
    DemoProfile(
        "gw.reference",
        "google-workspace",
        SHARED,
        "Reference desk mailbox",
        handle="reference@riverside.example",
        signup_email="reference@riverside.example",
        custodians=("Sam Ortiz", "Grace Liu", "Carlos Mendes"),
        notes="The reference team's shared inbox; everyone on the desk knows the password.",
        since_days=2500,
    ),
    # Domain registrar and DNS
    DemoProfile(
        "dr.login",
        "domain-registrar",
        SHARED,
        "Registrar account login",
        handle="customer no. 4471902",
        signup_email="it@riverside.example",
        custodians=("Tom Reyes", "Kevin O'Neill"),
        since_days=900,
    ),
    DemoProfile("dr.tom", "domain-registrar", PERSONAL, "Tom Reyes", handle="treyes", holder="Tom Reyes"),
    DemoProfile(
        "dns.org",
        "dns",
        ORG,
        "Riverside Public Library DNS organisation",
        handle="riverside.example",
        signup_email="it@riverside.example",
    ),
    DemoProfile("dns.kevin", "dns", PERSONAL, "Kevin O'Neill", handle="kevin.oneill@riverside.example", holder="Kevin O'Neill"),
    DemoProfile("dns.tom", "dns", PERSONAL, "Tom Reyes", handle="tom.reyes@riverside.example", holder="Tom Reyes"),
    DemoProfile("dns.leo", "dns", PERSONAL, "Leo Fischer", handle="leo.fischer@riverside.example", holder="Leo Fischer"),
    # Mailing list
    DemoProfile("ml.helen", "mailing-list", PERSONAL, "Helen Park", handle="helen.park@riverside.example", holder="Helen Park"),
    DemoProfile(
        "ml.hannah", "mailing-list", PERSONAL, "Hannah Stein", handle="hannah.stein@riverside.example", holder="Hannah Stein"
    ),
    DemoProfile(
        "ml.marcus", "mailing-list", PERSONAL, "Marcus Bell", handle="marcus.bell@riverside.example", holder="Marcus Bell"
    ),
    DemoProfile("ml.rosa", "mailing-list", PERSONAL, "Rosa Delgado", handle="rosa.delgado@mail.example", holder="Rosa Delgado"),
    # Other
    DemoProfile("ot.marcus", "other", PERSONAL, "Marcus Bell", handle="marcus.bell@riverside.example", holder="Marcus Bell"),
    DemoProfile("ot.helen", "other", PERSONAL, "Helen Park", handle="helen.park@riverside.example", holder="Helen Park"),
    DemoProfile("ot.ethan", "other", PERSONAL, "Ethan Brown", handle="ethanb#2231", holder="Ethan Brown"),
)


@dataclass(frozen=True)
class DemoAccount:
    platform: str
    name: str
    department: str
    steward: str | None
    handle: str = ""
    url: str = ""
    purpose: str = ""
    status: AccountStatus = AccountStatus.ACTIVE
    owner: str | None = None
    has_own_login: bool = False
    #: Days since the last review; None for never reviewed.
    reviewed_days: int | None = None
    #: (profile key, role name, days since the role was given)
    admins: tuple[tuple[str, str, int], ...] = ()
    #: (kind, value, person tied to it or None, days since last verified or None)
    recovery: tuple[tuple[RecoveryKind, str, str | None, int | None], ...] = ()
    #: (tool, profile key, purpose, days since authorised)
    connections: tuple[tuple[str, str, str, int], ...] = ()
    #: Set for the one retired account: why it was retired.
    retired_because: str = ""


ACCOUNTS = (
    # --- Facebook ---
    DemoAccount(
        "facebook",
        "Riverside Public Library",
        "Communications",
        "Helen Park",
        handle="@RiversidePublicLibrary",
        url="https://www.facebook.com/RiversidePublicLibrary",
        purpose="The library's main Page: events, closures, news and patrons' questions. About 6,800 followers.",
        owner="fb.dana",
        reviewed_days=410,
        admins=(("fb.dana", "admin", 3400), ("fb.reads", "admin", 2900), ("fb.sam", "admin", 1500), ("fb.helen", "editor", 1200)),
        connections=(("Sprout Social", "fb.reads", "Schedules event posts a week ahead", 800),),
    ),
    DemoAccount(
        "facebook",
        "Riverside Library — Eastside Branch",
        "Branch: Eastside",
        "Ruth Adeyemi",
        handle="@RiversideEastside",
        url="https://www.facebook.com/RiversideEastside",
        purpose="News and events of the Eastside branch.",
        owner="fb.portfolio",
        reviewed_days=35,
        admins=(("fb.portfolio", "admin", 900), ("fb.ruth", "admin", 900), ("fb.daniel", "editor", 600)),
        recovery=((EMAIL, "digital@riverside.example", None, 35),),
    ),
    DemoAccount(
        "facebook",
        "Riverside Teen Zone",
        "Children & Teens",
        "Fiona MacLeod",
        handle="@RiversideTeenZone",
        url="https://www.facebook.com/RiversideTeenZone",
        purpose="The teen programme's Page; quiet since Ben left, but still followed by 1,400 people.",
        status=AccountStatus.DORMANT,
        owner="fb.ben",
        reviewed_days=800,
        admins=(("fb.ben", "admin", 1800),),
    ),
    DemoAccount(
        "facebook",
        "Riverside Book Club group",
        "Adult Services",
        "Omar Haddad",
        url="https://www.facebook.com/groups/riversidebookclub",
        purpose="The monthly book club's discussion group.",
        owner="fb.omar",
        reviewed_days=150,
        admins=(("fb.omar", "admin", 1100), ("fb.reads", "moderator", 1000)),
    ),
    # --- Instagram ---
    DemoAccount(
        "instagram",
        "Riverside Public Library on Instagram",
        "Communications",
        "Jo Kim",
        handle="@riversidelibrary",
        url="https://www.instagram.com/riversidelibrary",
        purpose="Photos of events, new books and the building.",
        owner="ig.comms",
        has_own_login=True,
        reviewed_days=95,
        admins=(("ig.comms", "owner", 2000), ("ig.marcus", "partial access", 500)),
        recovery=((EMAIL, "comms@riverside.example", None, 95), (PHONE, "+1 202-555-0123", "Jo Kim", 400)),
        connections=(("Later", "ig.comms", "Scheduled posts and the link-in-bio page", 600),),
    ),
    DemoAccount(
        "instagram",
        "Riverside Kids & Teens on Instagram",
        "Children & Teens",
        "Fiona MacLeod",
        handle="@riverside_kids_teens",
        url="https://www.instagram.com/riverside_kids_teens",
        purpose="Storytime and teen-space news for families.",
        owner="ig.portfolio",
        has_own_login=True,
        reviewed_days=60,
        admins=(("ig.portfolio", "owner", 700), ("ig.ethan", "full control", 700), ("ig.lily", "partial access", 400)),
        recovery=((EMAIL, "teens@riverside.example", None, 60),),
    ),
    DemoAccount(
        "instagram",
        "Eastside Branch on Instagram",
        "Branch: Eastside",
        "Ruth Adeyemi",
        handle="@riverside_eastside",
        url="https://www.instagram.com/riverside_eastside",
        purpose="Started by Maya for the branch's garden and craft events.",
        owner="ig.maya",
        has_own_login=True,
        admins=(("ig.maya", "owner", 450), ("ig.ruth", "full control", 300)),
        recovery=((PHONE, "+1 202-555-0124", "Maya Singh", 450),),
    ),
    # --- X ---
    DemoAccount(
        "x",
        "Riverside Public Library on X",
        "Communications",
        "Jo Kim",
        handle="@riversidelib",
        url="https://x.com/riversidelib",
        purpose="Announcements, closures and replies to patrons.",
        owner="x.comms",
        has_own_login=True,
        reviewed_days=200,
        admins=(("x.comms", "owner", 4000), ("x.jo", "admin", 700)),
        recovery=((EMAIL, "comms@riverside.example", None, 200), (PHONE, "+1 202-555-0142", "Dana Whitfield", 1100)),
        connections=(("Hootsuite", "x.jo", "Scheduled posts and the shared social inbox", 650),),
    ),
    DemoAccount(
        "x",
        "Riverside Library Events on X",
        "Adult Services",
        "Omar Haddad",
        handle="@rpl_events",
        url="https://x.com/rpl_events",
        purpose="Event reminders; unused since the main account took them over.",
        status=AccountStatus.DORMANT,
        has_own_login=True,
        reviewed_days=1000,
        recovery=((EMAIL, "events@riverside.example", None, None),),
    ),
    # --- YouTube ---
    DemoAccount(
        "youtube",
        "Riverside Library TV",
        "Digital Services",
        "Priya Natarajan",
        handle="@RiversideLibraryTV",
        url="https://www.youtube.com/@RiversideLibraryTV",
        purpose="Author talks, how-to videos and recorded board meetings. About 3,200 subscribers.",
        owner="yt.priya",
        reviewed_days=190,
        admins=(("yt.priya", "owner", 1300),),
        recovery=((EMAIL, "priya.natarajan@mail.example", "Priya Natarajan", 190),),
    ),
    DemoAccount(
        "youtube",
        "Riverside Storytime",
        "Children & Teens",
        "Lily Chen",
        handle="@RiversideStorytime",
        url="https://www.youtube.com/@RiversideStorytime",
        purpose="Recorded storytimes and rhymes for families at home.",
        owner="yt.brand",
        reviewed_days=40,
        admins=(("yt.brand", "owner", 800), ("yt.lily", "manager", 800), ("yt.fiona", "manager", 600)),
        recovery=((EMAIL, "digital@riverside.example", None, 40),),
    ),
    # --- LinkedIn ---
    DemoAccount(
        "linkedin",
        "Riverside Public Library on LinkedIn",
        "Administration",
        "Helen Park",
        url="https://www.linkedin.com/company/riverside-public-library",
        purpose="Job postings, partnerships and board news.",
        owner="li.margaret",
        reviewed_days=300,
        admins=(("li.margaret", "super admin", 2500), ("li.helen", "super admin", 1200), ("li.alan", "content admin", 800)),
    ),
    # --- Flickr ---
    DemoAccount(
        "flickr",
        "Riverside Local History",
        "Adult Services",
        "Beatrice Nwosu",
        url="https://www.flickr.com/photos/riversidelocalhistory",
        purpose="Digitised photographs from the local history room, under open licences.",
        owner="fl.localhistory",
        has_own_login=True,
        reviewed_days=500,
        admins=(("fl.localhistory", "owner", 3000),),
        recovery=((EMAIL, "localhistory@riverside.example", None, 500),),
    ),
    DemoAccount(
        "flickr",
        "Riverside Events Photos",
        "Communications",
        "Marcus Bell",
        url="https://www.flickr.com/photos/rpl_events",
        purpose="Event photos from 2015 to 2022.",
        owner="fl.dana",
        has_own_login=True,
        reviewed_days=760,
        admins=(("fl.dana", "owner", 2600),),
        retired_because="Event photos moved to the Local History account; this one is kept only so old links keep working.",
    ),
    # --- TikTok ---
    DemoAccount(
        "tiktok",
        "Riverside Teens on TikTok",
        "Children & Teens",
        "Ethan Brown",
        handle="@riversidelibteens",
        url="https://www.tiktok.com/@riversidelibteens",
        purpose="Short book recommendations made with the Teen Advisory Board.",
        owner="tt.rivvy",
        has_own_login=True,
        reviewed_days=250,
        admins=(("tt.rivvy", "owner", 900),),
        recovery=((PHONE, "+1 202-555-0177", "Ben Carter", 900), (EMAIL, "teens@riverside.example", None, 250)),
    ),
    # --- Mastodon and Bluesky ---
    DemoAccount(
        "mastodon",
        "Riverside Public Library on Mastodon",
        "Digital Services",
        "Leo Fischer",
        handle="@riversidelib@libraryland.social",
        url="https://libraryland.social/@riversidelib",
        purpose="Announcements for the fediverse, cross-posted from the website.",
        has_own_login=True,
        reviewed_days=120,
        recovery=((EMAIL, "digital@riverside.example", None, 120),),
    ),
    DemoAccount(
        "bluesky",
        "Riverside Public Library on Bluesky",
        "Communications",
        "Jo Kim",
        handle="@riverside.example",
        url="https://bsky.app/profile/riverside.example",
        purpose="Announcements and replies; the handle is verified through the library's own domain.",
        has_own_login=True,
        reviewed_days=30,
        recovery=((EMAIL, "comms@riverside.example", None, 30),),
    ),
    # --- WordPress ---
    DemoAccount(
        "wordpress",
        "riverside.example website",
        "Digital Services",
        "Leo Fischer",
        url="https://riverside.example",
        purpose="The library's website: opening hours, events calendar, catalogue search.",
        owner="wp.wpadmin",
        reviewed_days=75,
        admins=(
            ("wp.wpadmin", "administrator", 3300),
            ("wp.leo", "administrator", 1000),
            ("wp.helen", "editor", 1200),
            ("wp.marcus", "author", 500),
        ),
        recovery=((EMAIL, "webmaster@riverside.example", None, 75),),
        connections=(("Jetpack", "wp.wpadmin", "Nightly backups and security scans", 1500),),
    ),
    DemoAccount(
        "wordpress",
        "Riverside Kids Blog",
        "Children & Teens",
        "Fiona MacLeod",
        url="https://kids.riverside.example",
        purpose="Reading lists for children; not updated since the new website launched.",
        status=AccountStatus.DORMANT,
        owner="wp.lily",
        reviewed_days=700,
        admins=(("wp.lily", "administrator", 1600),),
    ),
    # --- Google Workspace ---
    DemoAccount(
        "google-workspace",
        "riverside.example Google Workspace",
        "Digital Services",
        "Tom Reyes",
        handle="riverside.example",
        url="https://admin.google.com",
        purpose="Every staff mailbox, calendar and shared drive.",
        owner="gw.org",
        reviewed_days=20,
        admins=(
            ("gw.breakglass", "super admin", 1500),
            ("gw.kevin", "super admin", 2000),
            ("gw.tom", "super admin", 1800),
            ("gw.aisha", "help desk admin", 400),
        ),
        recovery=((PHONE, "+1 202-555-0104", "Tom Reyes", 20), (CODES, "Printed backup codes in the director's safe", None, 20)),
    ),
    DemoAccount(
        "google-workspace",
        "Reference desk mailbox",
        "Adult Services",
        "Grace Liu",
        handle="reference@riverside.example",
        purpose="The reference team's shared inbox, and the sign-up address of the Riverside Reads profile.",
        owner="gw.reference",
        has_own_login=True,
        reviewed_days=140,
        recovery=((PHONE, "+1 202-555-0117", "Sam Ortiz", 600),),
    ),
    # --- Domain registrar and DNS ---
    DemoAccount(
        "domain-registrar",
        "riverside.example domain",
        "Digital Services",
        "Tom Reyes",
        handle="riverside.example",
        url="https://registrar.example/account",
        purpose="Registers riverside.example. The website, every staff mailbox and every password reset sent "
        "to the domain depend on it.",
        owner="dr.login",
        has_own_login=True,
        reviewed_days=700,
        admins=(("dr.login", "account owner", 4200), ("dr.tom", "technical contact", 900)),
        recovery=(
            (EMAIL, "dana.whitfield@mail.example", "Dana Whitfield", 1100),
            (TRUSTED, "Margaret Osei (registrant contact)", "Margaret Osei", 700),
        ),
    ),
    DemoAccount(
        "domain-registrar",
        "riversidereads.example domain",
        "Adult Services",
        "Omar Haddad",
        handle="riversidereads.example",
        purpose="Bought for the Riverside Reads festival; renews automatically.",
        status=AccountStatus.DORMANT,
        has_own_login=True,
        recovery=((EMAIL, "omar.haddad@mail.example", "Omar Haddad", None),),
    ),
    DemoAccount(
        "dns",
        "riverside.example DNS",
        "Digital Services",
        "Kevin O'Neill",
        handle="riverside.example",
        purpose="Where the domain's web and mail traffic goes.",
        owner="dns.org",
        reviewed_days=20,
        admins=(
            ("dns.org", "owner", 1500),
            ("dns.kevin", "administrator", 1500),
            ("dns.tom", "administrator", 1500),
            ("dns.leo", "dns editor", 700),
        ),
        recovery=((EMAIL, "it@riverside.example", None, 20),),
    ),
    # --- Mailing lists ---
    DemoAccount(
        "mailing-list",
        "Riverside Library News",
        "Communications",
        "Helen Park",
        purpose="The monthly newsletter to 9,000 subscribers.",
        owner="ml.helen",
        reviewed_days=110,
        admins=(("ml.helen", "owner", 1400), ("ml.hannah", "manager", 300), ("ml.marcus", "author", 500)),
        recovery=((EMAIL, "helen.park@riverside.example", "Helen Park", 110),),
        connections=(("Eventbrite", "ml.helen", "Adds event sign-ups to the newsletter list", 400),),
    ),
    DemoAccount(
        "mailing-list",
        "Friends of Riverside Library list",
        "Administration",
        "Rosa Delgado",
        purpose="Mail-outs to the Friends' members about the book sale.",
        status=AccountStatus.DORMANT,
        owner="ml.rosa",
        reviewed_days=600,
        admins=(("ml.rosa", "owner", 2000),),
        recovery=((EMAIL, "rosa.delgado@mail.example", "Rosa Delgado", 600),),
    ),
    # --- Other ---
    DemoAccount(
        "other",
        "Eventbrite organiser",
        "Adult Services",
        "Omar Haddad",
        url="https://www.eventbrite.example/o/riverside-public-library",
        purpose="Ticketing for author talks and workshops.",
        has_own_login=True,
        reviewed_days=160,
        recovery=((EMAIL, "events@riverside.example", None, 160),),
    ),
    DemoAccount(
        "other",
        "Canva team",
        "Communications",
        "Marcus Bell",
        purpose="Templates and brand kit for posters and social posts.",
        owner="ot.marcus",
        reviewed_days=90,
        admins=(("ot.marcus", "owner", 900), ("ot.helen", "admin", 900)),
        recovery=((EMAIL, "marcus.bell@riverside.example", "Marcus Bell", 90),),
    ),
    DemoAccount(
        "other",
        "Teen Advisory Board Discord",
        "Children & Teens",
        "Ethan Brown",
        url="https://discord.example/riverside-tab",
        purpose="Chat server for the Teen Advisory Board.",
        owner="ot.ethan",
        admins=(("ot.ethan", "owner", 300),),
        recovery=((PHONE, "+1 202-555-0119", "Ethan Brown", 300),),
    ),
    DemoAccount(
        "other",
        "OverDrive Marketplace",
        "Administration",
        "Rosa Delgado",
        url="https://marketplace.overdrive.example",
        purpose="Buying e-books and audiobooks for the Libby collection.",
        has_own_login=True,
        reviewed_days=45,
        recovery=((EMAIL, "acquisitions@riverside.example", None, 45),),
    ),
    DemoAccount(
        "other",
        "Google Business Profile — Eastside Branch",
        "Branch: Eastside",
        None,
        url="https://business.google.com",
        purpose="The branch's opening hours and photos on Google Maps.",
        has_own_login=True,
        recovery=((EMAIL, "digital@riverside.example", None, None),),
    ),
)


@dataclass(frozen=True)
class DemoReveal:
    """A reveal from before the registry was set up (or by someone with no sign-in)."""

    person: str
    days: int
    reason: str


@dataclass(frozen=True)
class DemoNote:
    label: str
    kind: CredentialKind
    #: Days since the secret was last changed.
    rotated_days: int
    #: The persona or shared-login profile key holding it, or else the (platform, name) of its account.
    profile: str | None = None
    account: tuple[str, str] | None = None
    reveals: tuple[DemoReveal, ...] = ()


#: Dana revealed the registrar password two months before she left (she left 730 days ago).
DANA_REVEAL_DAYS = 730 + 61

#: The vault: one note in each state, so the rotation queue shows must-rotate, overdue and due
#: (the registrar's platform rotates every 180 days, Google Workspace too, Facebook and YouTube 365).
NOTES = (
    # OK: Sam changed it when he took over the desk's social media.
    DemoNote("Facebook password", CredentialKind.PASSWORD, 60, profile="fb.reads"),
    # Overdue: the whole reference desk knows it, and it has not changed for over a year.
    DemoNote("Mailbox password", CredentialKind.PASSWORD, 400, profile="gw.reference"),
    # Must rotate: Dana revealed it before she left and it was never changed afterwards.
    DemoNote(
        "Registrar password",
        CredentialKind.PASSWORD,
        900,
        account=("domain-registrar", "riverside.example domain"),
        reveals=(DemoReveal("Dana Whitfield", DANA_REVEAL_DAYS, "renewing the domain for another two years"),),
    ),
    # Due: new codes are printed every six months, and the next set is due within the month.
    DemoNote("2FA backup codes", CredentialKind.BACKUP_CODES, 165, account=("domain-registrar", "riverside.example domain")),
    # Must rotate: Priya revealed the codes last month, and she is leaving.
    DemoNote(
        "2FA backup codes",
        CredentialKind.BACKUP_CODES,
        190,
        account=("youtube", "Riverside Library TV"),
        reveals=(DemoReveal("Priya Natarajan", 30, "signing in on the new studio laptop"),),
    ),
)


def _backup_codes(count: int = 10) -> str:
    """One-time codes as platforms print them ("0123 4567"), drawn with the vault's own generator."""
    codes = (credentials.generate_password(12, ("digits",))[:8] for _ in range(count))
    return "\n".join(f"{code[:4]} {code[4:]}" for code in codes)


def registry_has_data() -> bool:
    """Whether anyone is on the staff list: the demo is loaded only into an empty registry."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Person)) > 0


def _work_email(name: str) -> str:
    first, _, last = name.lower().partition(" ")
    return f"{re.sub(r'[^a-z]', '', first)}.{re.sub(r'[^a-z]', '', last)}@{DOMAIN}"


class _Loader:
    """Builds the organisation in dependency order, keeping what it made by name or key."""

    def __init__(self, actor: Actor):
        self.actor = actor
        self.today = date.today()
        self.now = datetime.now(UTC)
        self.platforms = self._catalogue_platforms()
        self.departments: dict[str, Department] = {}
        self.people: dict[str, Person] = {}
        self.profiles: dict[str, Profile] = {}
        self.accounts: list[Account] = []
        self.users: list[User] = []
        self.notes: list[CredentialNote] = []

    @staticmethod
    def _catalogue_platforms() -> dict[str, Platform]:
        """Catalogue platforms by slug, also found by name if someone changed a slug before loading."""
        existing = list(db.session.scalars(sa.select(Platform)))
        by_slug = {p.slug: p for p in existing}
        by_name = {p.name.lower(): p for p in existing}
        found: dict[str, Platform] = {}
        for entry in CATALOGUE:
            platform = by_slug.get(entry.slug) or by_name.get(entry.name.lower())
            if platform is None:
                raise ValidationFailed(f"The platform catalogue has no {entry.name}; run `flask platforms seed` first.")
            found[entry.slug] = platform
        return found

    def days_ago(self, days: int | None) -> datetime | None:
        return None if days is None else self.now - timedelta(days=days)

    def load_departments(self) -> None:
        for name, description in DEPARTMENTS:
            department = Department(name=name, description=description)
            db.session.add(department)
            db.session.flush()
            audit.record_event(
                self.actor,
                "department.create",
                "department",
                department.id,
                f"Added department {name}",
                None,
                {"name": name, "description": description, "head": None, "version": department.version},
            )
            self.departments[name] = department

    def load_people(self) -> None:
        for n, spec in enumerate(PEOPLE, start=1):
            manager = self.people[spec.manager] if spec.manager else None
            data = people.PersonData(
                name=spec.name,
                work_email=_work_email(spec.name),
                job_title=spec.job_title,
                department_id=self.departments[spec.department].id,
                manager_id=manager.id if manager else None,
                hr_id=f"RPL-{1000 + n:04d}",
                personal_email=spec.personal_email,
                personal_phone=spec.personal_phone,
                status=spec.status,
                last_day=self.today + timedelta(days=spec.days) if spec.status is PersonStatus.LEAVING else None,
                left_on=self.today - timedelta(days=spec.days) if spec.status is PersonStatus.DEPARTED else None,
            )
            self.people[spec.name] = people.create_person(self.actor, data)
        for department_name, head_name in HEADS.items():
            self.departments[department_name].head = self.people[head_name]
        db.session.flush()
        for department_name, head_name in HEADS.items():
            department = self.departments[department_name]
            audit.record_event(
                self.actor,
                "department.update",
                "department",
                department.id,
                f"Made {head_name} head of {department_name}",
                {"head": None, "version": department.version - 1},
                {"head": head_name, "version": department.version},
            )

    def load_profiles(self) -> None:
        for spec in PROFILES:
            platform = self.platforms[spec.platform]
            profile = Profile(
                platform=platform,
                kind=spec.kind,
                name=spec.name,
                handle=spec.handle,
                holder=self.people[spec.holder] if spec.holder else None,
                signup_email=spec.signup_email,
                speaks_for_organisation=spec.speaks_for_organisation,
                notes=spec.notes,
            )
            db.session.add(profile)
            db.session.flush()
            audit.record_event(
                self.actor,
                "profile.create",
                "profile",
                profile.id,
                f"Recorded {spec.kind.label.lower()} profile {profile.label} on {platform.name}",
                None,
                {
                    "name": profile.name,
                    "handle": profile.handle,
                    "kind": spec.kind.label,
                    "platform": platform.name,
                    "holder": spec.holder,
                    "speaks_for_organisation": spec.speaks_for_organisation,
                    "version": profile.version,
                },
            )
            for custodian in spec.custodians:
                person = self.people[custodian]
                db.session.add(ProfileCustodian(profile=profile, person=person, since=self.days_ago(spec.since_days)))
                audit.record_event(  # flushes the custodian with its event
                    self.actor,
                    "profile.custodian.add",
                    "profile",
                    profile.id,
                    f"Made {person.name} a custodian of {profile.label}",
                    None,
                    {"custodian": person.name},
                )
            self.profiles[spec.key] = profile

    def load_accounts(self) -> None:
        for spec in ACCOUNTS:
            account = accounts.create_account(
                self.actor,
                accounts.AccountData(
                    platform_id=self.platforms[spec.platform].id,
                    name=spec.name,
                    handle=spec.handle,
                    url=spec.url,
                    purpose=spec.purpose,
                    department_id=self.departments[spec.department].id,
                    status=spec.status,
                    owner_profile_id=self.profiles[spec.owner].id if spec.owner else None,
                    steward_id=self.people[spec.steward].id if spec.steward else None,
                    has_own_login=spec.has_own_login,
                ),
            )
            for key, role_name, days in spec.admins:
                accounts.add_admin(self.actor, account, self.profiles[key].id, role_name, since=self.today - timedelta(days=days))
            for kind, value, person_name, verified_days in spec.recovery:
                accounts.add_recovery_contact(
                    self.actor,
                    account,
                    kind,
                    value,
                    person_id=self.people[person_name].id if person_name else None,
                    last_verified_at=self.days_ago(verified_days),
                )
            for tool, key, purpose, days in spec.connections:
                connection = accounts.add_connection(self.actor, account, tool, self.profiles[key].id, purpose)
                # The tool was authorised long before the registry recorded it.
                connection.authorised_at = self.days_ago(days)
            if spec.reviewed_days is not None:
                # No service records reviews yet (review campaigns will); the event keeps it attributable.
                account.last_reviewed_at = self.days_ago(spec.reviewed_days)
                db.session.flush()
                audit.record_event(
                    self.actor,
                    "account.review",
                    "account",
                    account.id,
                    f"Recorded the last review of {account.name}, on {account.last_reviewed_at:%Y-%m-%d}",
                    {"last_reviewed_at": None, "version": account.version - 1},
                    {"last_reviewed_at": audit.plain(account.last_reviewed_at), "version": account.version},
                )
            if spec.retired_because:
                accounts.retire_account(self.actor, account, account.version, spec.retired_because)
            self.accounts.append(account)

    def load_users(self) -> None:
        for email, role, person_name in SIGN_INS:
            self.users.append(users.create_user(self.actor, email, DEMO_PASSWORD, role, self.people[person_name].id))

    def load_credentials(self) -> None:
        """Credential notes with fake generated secrets, their last change and the reveals told in NOTES."""
        for spec in NOTES:
            if spec.profile is not None:
                holder = {"profile": self.profiles[spec.profile]}
            else:
                assert spec.account is not None
                slug, name = spec.account
                platform_id = self.platforms[slug].id
                holder = {"account": next(a for a in self.accounts if a.platform_id == platform_id and a.name == name)}
            secret = credentials.generate_password() if spec.kind is CredentialKind.PASSWORD else _backup_codes()
            note = credentials.create_note(self.actor, credentials.NoteData(spec.label, spec.kind), secret, **holder)
            # The secret was last changed long before the registry recorded it.
            recorded_at = note.rotated_at
            note.rotated_at = self.days_ago(spec.rotated_days)
            credentials._restamp(note)
            db.session.flush()
            audit.record_event(
                self.actor,
                "credential.update",
                "credential",
                note.id,
                f"Recorded that “{note.label}” on {note.holder_label} was last changed on {note.rotated_at:%Y-%m-%d}",
                {"rotated_at": audit.plain(recorded_at), "version": note.version - 1},
                {"rotated_at": audit.plain(note.rotated_at), "version": note.version},
            )
            for reveal in spec.reveals:
                self._record_reveal(note, reveal)
            self.notes.append(note)

    def _record_reveal(self, note: CredentialNote, reveal: DemoReveal) -> None:
        """A past reveal in the log, with its audit event, attributed to the person (and their sign-in, if any)."""
        person = self.people[reveal.person]
        user = next((u for u in self.users if u.person_id == person.id), None)
        revealed_at = self.days_ago(reveal.days)
        db.session.add(
            CredentialReveal(
                note=note,
                user_id=user.id if user else None,
                person_id=person.id,
                actor_name=person.name,
                reason=reveal.reason,
                revealed_at=revealed_at,
            )
        )
        db.session.flush()
        audit.record_event(
            Actor(user_id=user.id if user else None, name=person.name, role=None, person_id=person.id),
            "credential.reveal",
            "credential",
            note.id,
            f"Revealed “{note.label}”: {reveal.reason}",
            None,
            {"reason": reveal.reason, "revealed_at": audit.plain(revealed_at)},
        )


def load_demo(actor: Actor) -> str:
    """Create Riverside Public Library and return a one-line summary; the caller commits.

    Adds any missing catalogue platforms first. Refuses (ValidationFailed) when the registry
    already has people, so demo data never mixes with real data. Raises PermissionDenied unless
    the actor keeps both the staff list and the inventory (an admin; the CLI's system actor is one).
    """
    permissions.require(
        permissions.can_edit_people(actor) and permissions.can_edit_inventory(actor), "Only admins load the demo organisation."
    )
    if registry_has_data():
        raise ValidationFailed("The registry already has data. Load the demo only into an empty database.")
    added = ensure_catalogue(actor)
    loader = _Loader(actor)
    loader.load_departments()
    loader.load_people()
    loader.load_profiles()
    loader.load_accounts()
    loader.load_users()
    loader.load_credentials()
    catalogue = f"; {added} platforms added to the catalogue" if added else ""
    return (
        f"Loaded the demo organisation {ORGANISATION}: {len(loader.departments)} departments, {len(loader.people)} people, "
        f"{len(loader.profiles)} profiles, {len(loader.accounts)} accounts and {len(loader.users)} sign-ins "
        f"({', '.join(email for email, _, _ in SIGN_INS)}){catalogue}."
    )
