/**
 * The codes of the gateway's `{"type":"error"}` frames (contract section 3). One alias in one
 * file, so that the error catalogue can take them over by changing only this line.
 */
export type WsErrorCode = 'bad_request' | 'not_found' | 'unauthorized' | 'forbidden' | 'limit_exceeded' | 'unavailable';
