// NOTIFICATION codes in words, as an operator reads them in `node status` (BIRD's wording where it has one).
import type { NotificationMessage } from '../packet/types';

const CODES: Record<number, [string, Record<number, string>]> = {
  1: ['Message header error', { 1: 'Connection not synchronized', 2: 'Bad message length', 3: 'Bad message type' }],
  2: [
    'OPEN message error',
    {
      1: 'Unsupported version number',
      2: 'Bad peer AS',
      3: 'Bad BGP identifier',
      4: 'Unsupported optional parameter',
      6: 'Unacceptable hold time',
      7: 'Unsupported capability',
    },
  ],
  3: [
    'UPDATE message error',
    {
      1: 'Malformed attribute list',
      2: 'Unrecognized well-known attribute',
      3: 'Missing mandatory attribute',
      4: 'Invalid attribute flags',
      5: 'Invalid attribute length',
      6: 'Invalid ORIGIN attribute',
      8: 'Invalid NEXT_HOP attribute',
      9: 'Optional attribute error',
      10: 'Invalid network field',
      11: 'Malformed AS_PATH',
    },
  ],
  4: ['Hold timer expired', {}],
  5: ['Finite state machine error', {}],
  6: [
    'Cease',
    {
      1: 'Maximum number of prefixes reached',
      2: 'Administrative shutdown',
      3: 'Peer de-configured',
      4: 'Administrative reset',
      5: 'Connection rejected',
      6: 'Other configuration change',
      7: 'Connection collision resolution',
      8: 'Out of resources',
      9: 'Hard reset',
    },
  ],
  7: ['ROUTE-REFRESH message error', {}],
};

export function describeNotification(n: Pick<NotificationMessage, 'code' | 'subcode' | 'shutdownText'>): string {
  const [name, subcodes] = CODES[n.code] ?? [`Error code ${n.code}`, {}];
  const sub = subcodes[n.subcode];
  const text = n.shutdownText ? ` "${n.shutdownText}"` : '';
  return sub ? `${name}: ${sub}${text}` : n.subcode ? `${name} (subcode ${n.subcode})${text}` : `${name}${text}`;
}
