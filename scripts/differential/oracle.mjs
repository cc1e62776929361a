// Test-only oracle for tollgate's differential tests (scripts/differential.sh).
//
// Reads one JSON document on stdin, {"kind": "iam" | "jwt", "cases": [...]}, and writes one
// JSON array of verdicts (same order) on stdout. The independent implementations are used as
// black boxes through their public APIs; nothing of them is linked into tollgate.
//
//   iam: @cloud-copilot/iam-simulate (runSimulation). Each case is evaluated once with the
//        identity policies and the resource policy; the verdict reports the simulator's
//        identity-policy result and resource-policy result separately, so the harness can
//        combine them by API Gateway's Tables A/B itself. A case may carry `variants`
//        (the same question with a policy rewritten to an equivalent spelling that avoids a
//        known simulator bug); each is evaluated the same way.
//   jwt: aws-jwt-verify (CognitoJwtVerifier). The JWKS is handed over with cacheJwks() and
//        verifySync() is used, so the verifier never touches the network (an unknown kid is
//        a KidNotFoundInJwksError instead of a refetch).
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { CognitoJwtVerifier } from 'aws-jwt-verify'
import { loadPolicy } from '@cloud-copilot/iam-policy'
// Internals, used only for the fallback below (the package's exports map hides them).
import { authorize } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/core_engine/CoreSimulatorEngine.js'
import { DiscoveryContextKeyConstraints } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/context_keys/discoveryContextKeyConstraints.js'
import { AwsRequestImpl } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/request/request.js'
import { RequestContextImpl } from './node_modules/@cloud-copilot/iam-simulate/dist/esm/requestContext.js'

async function readStdin() {
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  return Buffer.concat(chunks).toString('utf8')
}

async function simulate(c, q) {
  const sim = {
    request: {
      principal: c.principal,
      action: c.action ?? 'execute-api:Invoke',
      resource: { resource: c.resource, accountId: c.account },
      contextVariables: q.context ?? c.context,
    },
    identityPolicies: q.identityPolicies.map((policy, i) => ({ name: `identity${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  }
  if (q.resourcePolicy) sim.resourcePolicy = q.resourcePolicy
  let r
  try {
    r = await runSimulation(sim, {})
  } catch (e) {
    return { error: `exception: ${e && e.message ? e.message : String(e)}` }
  }
  let a
  if (r.resultType === 'error' && r.errors && r.errors.message === 'no.resource.types') {
    // The input validation refuses the method ARN of a stage root (`…/prod/GET/`: empty
    // path), which API Gateway does produce. Evaluate it without validation instead: the
    // same steps as the package's runUnsafeSimulation, keeping the analysis it discards.
    a = unvalidated(sim)
  } else if (r.resultType === 'error') {
    return { error: JSON.stringify(r.errors) }
  } else {
    a = r.result && r.result.analysis
  }
  if (!a) return { error: 'no analysis' }
  return {
    overall: r.overallResult,
    identity: a.identityAnalysis ? a.identityAnalysis.result : 'ImplicitlyDenied',
    resource: q.resourcePolicy ? (a.resourceAnalysis ? a.resourceAnalysis.result : 'NotApplicable') : null,
  }
}

function unvalidated(sim) {
  const request = new AwsRequestImpl(
    sim.request.principal,
    { resource: sim.request.resource.resource, accountId: sim.request.resource.accountId },
    sim.request.action,
    new RequestContextImpl(sim.request.contextVariables),
  )
  return authorize({
    request,
    sessionPolicy: undefined,
    identityPolicies: sim.identityPolicies.map((p) => loadPolicy(p.policy, { name: p.name })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: sim.resourcePolicy ? loadPolicy(sim.resourcePolicy, { name: 'resource' }) : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: {
      simulationMode: 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]),
    },
    serviceSettings: { s3: { blockPublicAccess: undefined } },
  })
}

async function iam(cases) {
  const out = []
  for (const c of cases) {
    const v = await simulate(c, c)
    v.variants = []
    for (const variant of c.variants ?? []) {
      const w = await simulate(c, variant)
      w.why = variant.why
      v.variants.push(w)
    }
    out.push(v)
  }
  return out
}

function jwt(cases) {
  const out = []
  for (const c of cases) {
    try {
      const props = { userPoolId: c.userPoolId, tokenUse: c.tokenUse, clientId: c.clientId ?? null }
      if (c.scope) props.scope = c.scope
      const verifier = CognitoJwtVerifier.create(props)
      verifier.cacheJwks(c.jwks)
      verifier.verifySync(c.token)
      out.push({ valid: true })
    } catch (e) {
      out.push({ valid: false, error: `${e && e.name ? e.name : 'Error'}: ${e && e.message ? e.message : String(e)}` })
    }
  }
  return out
}

const input = JSON.parse(await readStdin())
const verdicts = input.kind === 'iam' ? await iam(input.cases) : jwt(input.cases)
process.stdout.write(JSON.stringify(verdicts))
