"""All models, importable from one place. Statuses and roles are ``core.kernel`` enums."""
from core.models.applications import Application, ApplicationDisease, ApplicationEvent, Decision, Material  # noqa: F401
from core.models.audit import AuditAnchor, AuditLog, Notice  # noqa: F401
from core.models.benefits import BenefitSettlement, ChosenInstitution, InpatientStay  # noqa: F401
from core.models.idempotency import IdempotencyKey  # noqa: F401
from core.models.nhsa import FILING_KINDS, IMPORT_KINDS, NhsaDiseaseCode, NhsaFiling, NhsaImport  # noqa: F401
from core.models.operations import BackgroundTask, CalendarDay, JobLock, JobRun, NoticeDelivery, QueueFailure  # noqa: F401
from core.models.people import CATEGORY_EARLIEST, InsuredCategoryChange, User  # noqa: F401
from core.models.recognitions import Recognition  # noqa: F401
from core.models.tokens import ApiToken  # noqa: F401
from core.models.verification import VerificationCode  # noqa: F401
from core.models.sessions import LoginThrottle, UserSession  # noqa: F401
from core.models.recoveries import BenefitRecovery, RecoveryOutcome  # noqa: F401
