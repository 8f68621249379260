"""DescribeUserScramCredentials: v0, AlterUserScramCredentials: v0 (KIP-554).

Behavior (as a single Kafka broker answers, ControllerApis / ScramControlManager):
- Describe: null or empty users means all users with a credential; a named user without one is
  RESOURCE_NOT_FOUND ("Attempt to describe a user credential that does not exist: NAME"); a
  name given twice is DUPLICATE_RESOURCE. Needs DESCRIBE on the cluster.
- Alter: upsertions (salt and salted password, as the client's admin API derives them) and
  deletions per mechanism; deleting a credential that does not exist is RESOURCE_NOT_FOUND,
  an unknown mechanism UNSUPPORTED_SASL_MECHANISM, iterations outside 4096-16384 or an empty
  name UNACCEPTABLE_CREDENTIAL, a user both upserted and deleted or twice for one mechanism
  DUPLICATE_RESOURCE. Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED).
- Credentials are stored durably (kafkaish.credentials) and used by SCRAM logins at once.
"""

from __future__ import annotations

import logging
from collections import Counter

from kafkaish.authorizer import CLUSTER_NAME, Op, ResourceType, authorized
from kafkaish.credentials import CODE_OF, MECHANISM_CODES
from kafkaish.registry import RequestContext, handler
from kafkaish.sasl import SCRAM_ITERATIONS, SCRAM_MAX_ITERATIONS
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.alter_user_scram_credentials import (
    AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse,
)
from kafkaish.wire.messages.describe_user_scram_credentials import (
    DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
)

log = logging.getLogger("kafkaish.scram")
Result = DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult
Info = DescribeUserScramCredentialsResponse.CredentialInfo
AlterResult = AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult


@handler(DescribeUserScramCredentialsRequest, min_version=0, max_version=0)
async def describe_user_scram_credentials(ctx: RequestContext, req: DescribeUserScramCredentialsRequest
                                          ) -> DescribeUserScramCredentialsResponse:
    if not authorized(ctx, Op.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return DescribeUserScramCredentialsResponse(
            throttle_time_ms=0, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
            error_message="Cluster authorization failed.", results=[])
    users = ctx.broker.scram.users()
    wanted = sorted(users) if not req.users else [u.name for u in req.users]  # null or empty: all users
    counts = Counter(wanted)
    results = []
    for name in dict.fromkeys(wanted):
        if counts[name] > 1:
            results.append(Result(user=name, error_code=ErrorCode.DUPLICATE_RESOURCE,
                                  error_message=f"Cannot describe SCRAM credentials for the same user twice in a "
                                                f"single request: {name}", credential_infos=[]))
        elif name not in users:
            results.append(Result(user=name, error_code=ErrorCode.RESOURCE_NOT_FOUND,
                                  error_message=f"Attempt to describe a user credential that does not exist: {name}",
                                  credential_infos=[]))
        else:
            results.append(Result(user=name, error_code=0, error_message="", credential_infos=[
                Info(mechanism=CODE_OF[m], iterations=c.iterations) for m, c in sorted(users[name].items())]))
    # Kafka answers "" rather than null for no error here (checked against the reference broker)
    return DescribeUserScramCredentialsResponse(throttle_time_ms=0, error_code=0, error_message="",
                                                results=results)


def _problem(name: str, mechanism: int, iterations: int | None) -> tuple[int, str] | None:
    """Why an alteration is refused (ScramControlManager), or None."""
    if mechanism not in MECHANISM_CODES:
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, f"Unknown SCRAM mechanism {mechanism}"
    if not name:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"
    if iterations is not None and iterations < SCRAM_ITERATIONS:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"
    if iterations is not None and iterations > SCRAM_MAX_ITERATIONS:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"
    return None


@handler(AlterUserScramCredentialsRequest, min_version=0, max_version=0)
async def alter_user_scram_credentials(ctx: RequestContext, req: AlterUserScramCredentialsRequest
                                       ) -> AlterUserScramCredentialsResponse:
    names = [d.name for d in req.deletions] + [u.name for u in req.upsertions]
    if not authorized(ctx, Op.ALTER, ResourceType.CLUSTER, CLUSTER_NAME):
        return AlterUserScramCredentialsResponse(throttle_time_ms=0, results=[
            AlterResult(user=n, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                        error_message="Cluster authorization failed.") for n in dict.fromkeys(names)])
    pairs = Counter([(d.name, d.mechanism) for d in req.deletions] + [(u.name, u.mechanism) for u in req.upsertions])
    store = ctx.broker.scram
    outcome: dict[str, tuple[int, str | None]] = {}
    for name, mechanism in [p for p, c in pairs.items() if c > 1]:
        outcome[name] = (ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same "
                                                       "request")
    for d in req.deletions:
        if d.name in outcome:
            continue
        problem = _problem(d.name, d.mechanism, None)
        if problem is None and store.get(MECHANISM_CODES[d.mechanism], d.name) is None:
            problem = (ErrorCode.RESOURCE_NOT_FOUND,
                       f"Attempt to delete a user credential that does not exist: {d.name}")
        if problem is None:
            store.delete(d.name, MECHANISM_CODES[d.mechanism])
            log.info("%s deleted the %s credential of %r", ctx.session.principal, MECHANISM_CODES[d.mechanism],
                     d.name)
        outcome[d.name] = problem or (0, None)
    for u in req.upsertions:
        if u.name in outcome and outcome[u.name][0]:
            continue
        problem = _problem(u.name, u.mechanism, u.iterations)
        if problem is None:
            store.upsert(u.name, MECHANISM_CODES[u.mechanism], bytes(u.salt), bytes(u.salted_password), u.iterations)
            log.info("%s set the %s credential of %r", ctx.session.principal, MECHANISM_CODES[u.mechanism], u.name)
        outcome[u.name] = problem or (0, None)
    return AlterUserScramCredentialsResponse(throttle_time_ms=0, results=[
        AlterResult(user=name, error_code=code, error_message=message) for name, (code, message) in outcome.items()])
