"""The ETSI MEC REST API (Mm1 and the platform services), served from the Kubernetes resources.

One FastAPI application, one `APIRouter` per ETSI API (`routers/`), typed dependencies
(`deps.py`: the namespace the API root names, the caller authenticated by TokenReview and
authorised by SubjectAccessReview), errors as ProblemDetails (`problems.py`). Handlers only
translate between ETSI shapes (`schemas/`) and the resources `adapters.kube` reads and writes:
an app instantiated here is an EdgeApp that `kubectl get ea` shows, and the other way round.
"""
