"""Translate botocore errors into responder's error tree, once, for every AWS action.

Only throttling and transient faults become :class:`Transient` (retried by the engine, bounded, with
jitter). Access denied becomes :class:`Denied` naming the permission, and fails at once.
"""

from __future__ import annotations

import re

from ..errors import ActionFailed, Denied, ResponderError, TargetChanged, Transient

# botocore's own list (botocore/retries/standard.py) plus the transient server-side codes.
THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
}
TRANSIENT = {
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalServerException",
    "500",
    "502",
    "503",
    "504",
}
DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnauthorizedAccess",
    "Forbidden",
    "403",
    "AuthFailure",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
}
NOT_FOUND_SUFFIXES = (
    "NotFound",
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFoundException",
    "ResourceNotFoundException",
)
_PERMISSION = re.compile(r"perform:?\s+([a-z0-9-]+:[A-Za-z0-9*]+)")


def translate(exc: BaseException) -> ResponderError | None:
    """A ResponderError for botocore/urllib3 failures, or None for anything else."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        message = str(error.get("Message") or "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        op = exc.operation_name
        if code in THROTTLING:
            return Transient(f"{op}: throttled ({code}): {message}")
        if code in TRANSIENT or (isinstance(status, int) and status >= 500 and code not in DENIED):
            return Transient(f"{op}: transient AWS error {code or status}: {message[:200]}")
        if code in DENIED or "not authorized" in message:
            match = _PERMISSION.search(message)
            permission = match.group(1) if match else None
            what = permission or f"the permission for {op}"
            return Denied(
                f"{op}: access denied ({code}): responder lacks {what}",
                permission=permission,
                hint="add it to responder's role: `responder iam-policy PLAYBOOK` prints the policy the playbook needs",
            )
        if code.endswith(NOT_FOUND_SUFFIXES) or "NotFound" in code:
            return TargetChanged(f"{op}: not found ({code}): {message}")
        return ActionFailed(f"{op}: {code}: {message}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError):
        return Transient(f"AWS connection problem: {exc}")
    if isinstance(exc, ResponseParserError):
        return Transient(f"unreadable AWS response (server error?): {str(exc)[:200]}")
    if isinstance(exc, NoCredentialsError):
        return Denied("no AWS credentials found", hint="configure a profile or role, or use --sandbox")
    return None
