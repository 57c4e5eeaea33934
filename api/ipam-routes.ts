// /ipam/v1: what `tabbyctl ipam show|check|release` ask, answered by the same IpamOperations tabbyctl uses
// directly against the datastore (ApiClient is the other side of these routes).
import type { FastifyInstance } from 'fastify';
import type { IpamOperations } from '../ipam';
import { status } from './status';

export function registerIpamRoutes(app: FastifyInstance, ipam: IpamOperations): void {
  app.get('/ipam/v1/utilization', async () => ipam.utilization());
  app.get('/ipam/v1/blocks', async () => ({ items: await ipam.blocks() }));
  app.get('/ipam/v1/check', async () => ipam.check());
  app.post('/ipam/v1/release', async (req, reply) => {
    const ip = (req.body as { ip?: unknown } | undefined)?.ip;
    if (typeof ip !== 'string' || ip === '') {
      return reply.code(400).send(status(400, 'BadRequest', 'the body must be {"ip": "<address>"}'));
    }
    await ipam.releaseAddress(ip);
    return { released: ip };
  });
}
