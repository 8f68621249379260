"""ACLs with Kafka's StandardAuthorizer rules, stored durably with the rest of the metadata.

Theory of operation (org.apache.kafka.metadata.authorizer.StandardAuthorizerData):
- An ACL binds a resource pattern (type, name, LITERAL or PREFIXED; the LITERAL name ``*`` is
  the wildcard) to an entry (principal ``User:NAME`` or ``User:*``, host or ``*``, operation,
  ALLOW or DENY).
- ``authorize(principal, host, op, type, name)``: super users pass. Otherwise every ACL whose
  pattern matches the resource is considered: a matching DENY for the operation (or ALL)
  refuses; a matching ALLOW for the operation, ALL, or an operation that implies it (READ,
  WRITE, DELETE, ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS) allows. DENY
  wins. With no ACL at all on the resource, ``allow.everyone.if.no.acl.found`` decides (off
  by default, so an authorizer denies what nobody granted).
- Filters (DescribeAcls, DeleteAcls) match as Kafka's AclBindingFilter: ANY and null match
  everything; pattern type MATCH matches the literal, wildcard and prefixed ACLs that apply to
  a name.

The authorizer is off unless ``--authorizer``; then handlers call ``authorized`` (one
attribute check when off).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any, Protocol

from kafkaish.storage import StorageEngine
from kafkaish.wire.constants import AclOperation as Op

__all__ = ["AclBinding", "AclFilter", "Authorizer", "Op", "PatternType", "Permission", "ResourceType",
           "authorized", "cluster_operations_allowed", "operations_allowed"]

STATE_STORE = "acls"
WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"


class ResourceType(IntEnum):
    """org.apache.kafka.common.resource.ResourceType codes."""

    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Permission(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


CLUSTER_NAME = "kafka-cluster"  # the one CLUSTER resource's name
# AclEntry.supportedOperations: what each resource type's ACLs may name
SUPPORTED: dict[ResourceType, frozenset[Op]] = {
    ResourceType.TOPIC: frozenset({Op.READ, Op.WRITE, Op.CREATE, Op.DESCRIBE, Op.DELETE, Op.ALTER,
                                   Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS}),
    ResourceType.GROUP: frozenset({Op.READ, Op.DESCRIBE, Op.DELETE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS}),
    ResourceType.CLUSTER: frozenset({Op.CREATE, Op.CLUSTER_ACTION, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS,
                                     Op.IDEMPOTENT_WRITE, Op.ALTER, Op.DESCRIBE}),
    ResourceType.TRANSACTIONAL_ID: frozenset({Op.DESCRIBE, Op.WRITE, Op.TWO_PHASE_COMMIT}),
    ResourceType.DELEGATION_TOKEN: frozenset({Op.DESCRIBE}),
    ResourceType.USER: frozenset({Op.CREATE_TOKENS, Op.DESCRIBE_TOKENS}),
}
# StandardAuthorizerData: an ALLOW for any of these grants DESCRIBE (and DESCRIBE_CONFIGS)
_IMPLIES = {Op.DESCRIBE: {Op.DESCRIBE, Op.READ, Op.WRITE, Op.DELETE, Op.ALTER},
            Op.DESCRIBE_CONFIGS: {Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS}}


@dataclass(frozen=True, slots=True)
class AclBinding:
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission: int

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def matches_resource(self, resource_type: int, name: str) -> bool:
        if self.resource_type != resource_type:
            return False
        if self.pattern_type == PatternType.LITERAL:
            return self.resource_name in (name, WILDCARD)
        return self.pattern_type == PatternType.PREFIXED and name.startswith(self.resource_name)


@dataclass(frozen=True, slots=True)
class AclFilter:
    """A DescribeAcls/DeleteAcls filter: ANY codes and None match everything."""

    resource_type: int
    resource_name: str | None
    pattern_type: int
    principal: str | None
    host: str | None
    operation: int
    permission: int

    def matches(self, acl: AclBinding) -> bool:
        if self.resource_type != ResourceType.ANY and acl.resource_type != self.resource_type:
            return False
        if not self._pattern_matches(acl):
            return False
        return ((self.principal is None or self.principal == acl.principal)
                and (self.host is None or self.host == acl.host)
                and (self.operation == Op.ANY or self.operation == acl.operation)
                and (self.permission == Permission.ANY or self.permission == acl.permission))

    def _pattern_matches(self, acl: AclBinding) -> bool:
        # ResourcePatternFilter.matches
        if self.pattern_type == PatternType.ANY:
            return self.resource_name is None or self.resource_name == acl.resource_name
        if self.pattern_type == PatternType.MATCH:
            if self.resource_name is None:
                return True
            return acl.matches_resource(acl.resource_type, self.resource_name)
        return acl.pattern_type == self.pattern_type and (
            self.resource_name is None or self.resource_name == acl.resource_name)


class Authorizer:
    """The ACLs of one cluster (shared by its brokers) and the decisions they make."""

    def __init__(self, storage: StorageEngine, super_users: Iterable[str], allow_if_no_acl: bool) -> None:
        self._store = storage.state_store(STATE_STORE)
        self.super_users = frozenset(super_users)
        self.allow_if_no_acl = allow_if_no_acl
        self._acls: dict[str, AclBinding] = {}
        for key, raw in self._store.items().items():
            self._acls[key] = AclBinding(**json.loads(raw))
        self._by_type: dict[int, list[AclBinding]] = {}
        self._reindex()

    def _reindex(self) -> None:
        by_type: dict[int, list[AclBinding]] = {}
        for acl in self._acls.values():
            by_type.setdefault(acl.resource_type, []).append(acl)
        self._by_type = by_type

    # ------------------------------------------------------------------ admin
    def acls(self) -> list[AclBinding]:
        return list(self._acls.values())

    def add(self, acl: AclBinding) -> None:
        key = acl.key()
        if key not in self._acls:
            self._acls[key] = acl
            self._store.put(key, key.encode())
            self._reindex()

    def remove(self, flt: AclFilter) -> list[AclBinding]:
        gone = [acl for acl in self._acls.values() if flt.matches(acl)]
        for acl in gone:
            key = acl.key()
            del self._acls[key]
            self._store.put(key, None)
        if gone:
            self._reindex()
        return gone

    def describe(self, flt: AclFilter) -> list[AclBinding]:
        return [acl for acl in self._acls.values() if flt.matches(acl)]

    # ------------------------------------------------------------------ decisions
    def authorize(self, principal: str, host: str, op: Op, resource_type: ResourceType, name: str) -> bool:
        if principal in self.super_users:
            return True
        matching = [acl for acl in self._by_type.get(resource_type, ()) if acl.matches_resource(resource_type, name)]
        if not matching:
            return self.allow_if_no_acl
        applies = [acl for acl in matching if acl.principal in (principal, WILDCARD_PRINCIPAL)
                   and acl.host in (host, WILDCARD)]
        if any(acl.permission == Permission.DENY and acl.operation in (op, Op.ALL) for acl in applies):
            return False
        granting = _IMPLIES.get(op, {op})
        return any(acl.permission == Permission.ALLOW and (acl.operation == Op.ALL or acl.operation in granting)
                   for acl in applies)

    def authorize_any(self, principal: str, host: str, op: Op, resource_type: ResourceType) -> bool:
        """Whether some resource of the type could be allowed (Kafka's authorizeByResourceType), e.g. to
        create topics: an ALLOW on any pattern of the type that no DENY of the same pattern cancels."""
        if principal in self.super_users:
            return True
        applies = [acl for acl in self._by_type.get(resource_type, ())
                   if acl.principal in (principal, WILDCARD_PRINCIPAL) and acl.host in (host, WILDCARD)]
        denied = {(a.resource_name, a.pattern_type) for a in applies
                  if a.permission == Permission.DENY and a.operation in (op, Op.ALL)}
        if (WILDCARD, PatternType.LITERAL) in denied:
            return False
        return any(a.permission == Permission.ALLOW and a.operation in (op, Op.ALL)
                   and (a.resource_name, a.pattern_type) not in denied for a in applies)


class _Ctx(Protocol):
    client_host: str

    @property
    def broker(self) -> Any: ...

    @property
    def session(self) -> Any: ...


def authorized(ctx: _Ctx, op: Op, resource_type: ResourceType, name: str) -> bool:
    """Whether the request's principal may do ``op`` on the resource; True when no authorizer is on."""
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return True
    return authorizer.authorize(ctx.session.principal, ctx.client_host, op, resource_type, name)


def operations_allowed(ctx: _Ctx, resource_type: ResourceType, name: str, every: int) -> int:
    """An ``*AuthorizedOperations`` bitset (KIP-430): ``every`` (all the type's operations) when no
    authorizer is on, else the bits of the operations this principal is allowed."""
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return every
    out = 0
    for op in SUPPORTED[resource_type]:
        if every & (1 << op) and authorizer.authorize(ctx.session.principal, ctx.client_host, op, resource_type,
                                                      name):
            out |= 1 << op
    return out


def cluster_operations_allowed(ctx: _Ctx, every: int) -> int:
    """``ClusterAuthorizedOperations`` of Metadata and DescribeCluster (AuthHelper): none at all
    without DESCRIBE on the cluster."""
    if not authorized(ctx, Op.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return 0
    return operations_allowed(ctx, ResourceType.CLUSTER, CLUSTER_NAME, every)
