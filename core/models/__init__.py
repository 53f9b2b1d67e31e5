"""All models, importable from one place."""
from core.models.applications import (  # noqa: F401
    EVENT_NAMES,
    RESULTS,
    FINAL_STATUSES,
    KINDS,
    OPEN_STATUSES,
    STATUSES,
    Application,
    ApplicationDisease,
    ApplicationEvent,
    Decision,
    Material,
)
from core.models.audit import AuditLog, Notice  # noqa: F401
from core.models.people import AGENCY_ROLES, HOSPITAL_ROLES, ROLES, STAFF_ROLES, User  # noqa: F401
from core.models.recognitions import RECOGNITION_STATUSES, Recognition  # noqa: F401
from core.models.operations import (  # noqa: F401
    CHANNELS,
    DELIVERY_STATUSES,
    CalendarDay,
    JobLock,
    JobRun,
    NoticeDelivery,
)
from core.models.verification import VerificationCode  # noqa: F401
from core.models.tokens import ApiToken  # noqa: F401
from core.models.benefits import BenefitSettlement, ChosenInstitution, InpatientStay  # noqa: F401
from core.models.nhsa import FILING_KINDS, IMPORT_KINDS, NhsaDiseaseCode, NhsaFiling, NhsaImport  # noqa: F401
