/**
 * `rungate/client`: the client library, re-exported from its own package `@rungate/client`
 * (packages/client), so that code importing it from the gateway's package keeps working.
 */
export * from '@rungate/client';
