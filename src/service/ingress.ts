/** The addresses a Service's status holds, pure. */

type WithStatus = { readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string }[] } } };

/** The IPs in `status.loadBalancer.ingress`, in order, without duplicates or hostnames, as written. */
export function ingressIps(svc: WithStatus): string[] {
  const out: string[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    if (ing.ip && !out.includes(ing.ip)) out.push(ing.ip);
  }
  return out;
}
