"""All models, imported so metadata is complete for Alembic and create_all."""

from app.models.account import Account, AccountAdmin, AccountStatus, Connection, RecoveryContact, RecoveryKind
from app.models.api_token import ApiToken, Scope
from app.models.audit import AuditEvent, AuditHead
from app.models.base import Base, utcnow
from app.models.credential import CredentialKind, CredentialNote, CredentialReveal, CredentialVersion, MasterKeyCheck
from app.models.finding import (
    AccountRiskScore,
    FindingAcceptance,
    FindingCount,
    FindingIndexState,
    FindingPlatformCount,
    FindingSnapshot,
    IndexedFinding,
    IndexedFindingPerson,
    MustRotateNote,
)
from app.models.hr_event import HrEventReceipt
from app.models.kept_count import KeptCount
from app.models.offboarding import (
    CaseStatus,
    ChecklistItem,
    ItemKind,
    ItemStatus,
    OffboardingCase,
    OffboardingTemplateItem,
)
from app.models.person import Department, Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile, ProfileCustodian, ProfileKind
from app.models.review import ReviewCampaign, ReviewTask, ReviewTaskStatus
from app.models.scim import ScimIdentity
from app.models.user import AuthAttempt, LinkPurpose, RecoveryCode, Role, SignInLink, User

__all__ = [
    "Account",
    "AccountAdmin",
    "AccountStatus",
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "AuthAttempt",
    "Base",
    "CaseStatus",
    "ChecklistItem",
    "Connection",
    "CredentialKind",
    "CredentialNote",
    "CredentialReveal",
    "CredentialVersion",
    "Department",
    "AccountRiskScore",
    "FindingAcceptance",
    "FindingCount",
    "FindingPlatformCount",
    "FindingIndexState",
    "FindingSnapshot",
    "IndexedFinding",
    "IndexedFindingPerson",
    "MustRotateNote",
    "HrEventReceipt",
    "KeptCount",
    "ItemKind",
    "ItemStatus",
    "LinkPurpose",
    "MasterKeyCheck",
    "OffboardingCase",
    "OffboardingTemplateItem",
    "Person",
    "PersonStatus",
    "Platform",
    "Profile",
    "ProfileCustodian",
    "ProfileKind",
    "RecoveryCode",
    "RecoveryContact",
    "RecoveryKind",
    "ReviewCampaign",
    "ReviewTask",
    "ReviewTaskStatus",
    "Role",
    "ScimIdentity",
    "Scope",
    "SignInLink",
    "User",
    "utcnow",
]
