"""Users of the authenticated REST surfaces: passwords (scrypt digests) and API keys."""

from __future__ import annotations

import asyncio
import logging
import secrets

from coordinator.catalog import Catalog
from quiver.errors import ErrorCode, QuiverError
from quiver.passwords import (
    api_key_digest,
    check_password,
    hash_password,
    validate_password,
    validate_user_name,
)

log = logging.getLogger(__name__)

ROOT_USER = "root"
DEFAULT_ROOT_PASSWORD = "Milvus"  # Milvus' own default
# API keys read like LlamaCloud's (llx-...), whose SDK the managed-index surface serves.
API_KEY_PREFIX = "llx-"


class Users:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def ensure_root(self, password: str) -> str:
        """The first start creates the root user (Milvus' default password unless configured),
        and says so once, with how to change the password: the notice is logged and returned
        (the standalone prints it). A password that is not the default is never repeated: logs
        are no place for secrets. Later starts return an empty notice."""
        if not await self.catalog.ensure_user(ROOT_USER, await asyncio.to_thread(hash_password, password)):
            return ""
        given = f"the default password {DEFAULT_ROOT_PASSWORD!r}" if password == DEFAULT_ROOT_PASSWORD else (
            "the password given by --root-password"
        )
        notice = (
            f"created user {ROOT_USER!r} with {given} for the REST v2 and managed-index APIs. Change it: "
            "curl -X POST http://PROXY:19530/v2/vectordb/users/update_password -H 'Authorization: Bearer root:OLD' "
            """-d '{"userName": "root", "password": "OLD", "newPassword": "NEW"}'"""
        )
        log.warning("%s", notice)
        return notice

    async def authenticate(self, user: str, password: str, api_key: str) -> str:
        """The user the credentials belong to; one clear error for every kind of failure, and
        an unknown user takes as long to refuse as a wrong password."""
        if api_key:
            found = await self.catalog.api_key_user(api_key_digest(api_key))
            if found is not None:
                return found
        elif user:
            stored = await self.catalog.password_hash(user)
            if await asyncio.to_thread(check_password, password, stored):
                return user
        raise QuiverError(ErrorCode.NOT_AUTHENTICATED, "user hasn't authenticated")

    async def create_user(self, user: str, password: str) -> None:
        validate_user_name(user)
        digest = await asyncio.to_thread(hash_password, validate_password(password))
        if not await self.catalog.ensure_user(user, digest):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: user {user!r} already exists")
        log.info("created user %r", user)

    async def update_password(self, user: str, old: str, new: str) -> None:
        """Checks the old password (the same refusal whether the user exists or not)."""
        validate_password(new)
        stored = await self.catalog.password_hash(user)
        if not await asyncio.to_thread(check_password, old, stored):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: old password not correct for {user!r}")
        assert stored is not None  # check_password is False without a stored hash
        digest = await asyncio.to_thread(hash_password, new)
        if not await self.catalog.replace_password_hash(user, stored, digest):
            raise QuiverError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: user {user!r} changed meanwhile; try again")
        log.info("changed the password of user %r", user)

    async def drop_user(self, user: str) -> None:
        """Dropping a user that does not exist succeeds, as in Milvus; root cannot be dropped."""
        if user == ROOT_USER:
            raise QuiverError(ErrorCode.INVALID_PARAMETER, "invalid parameter: user root cannot be dropped")
        if await self.catalog.drop_user(user):
            log.info("dropped user %r and its API keys", user)

    async def list_users(self) -> list[str]:
        return await self.catalog.users()

    async def create_api_key(self, user: str) -> str:
        """A new API key acting as `user`, returned once: only its digest is stored."""
        if await self.catalog.password_hash(user) is None:
            raise QuiverError(ErrorCode.INVALID_PARAMETER, f"user {user!r} does not exist")
        key = API_KEY_PREFIX + secrets.token_urlsafe(36)
        await self.catalog.add_api_key(api_key_digest(key), user)
        log.info("issued an API key for user %r", user)
        return key
