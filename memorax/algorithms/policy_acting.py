"""Acting with a policy network (PPO, SAC): its mode for evaluation, a sample as in
training. The Q-learning counterpart is q_acting.py."""

from __future__ import annotations


class PolicyActing:
    """The action hooks of an `Algorithm` that implements `_acting_policy(state, loop)
    -> (policy, carry)`: the policy at the loop's observations (one-step sequences) and
    the carries after it."""

    def _deterministic_action(self, state, loop):
        policy, carry = self._acting_policy(state, loop)
        return policy.mode()[:, 0], carry

    def _sampled_action(self, state, loop, key):
        policy, carry = self._acting_policy(state, loop)
        return policy.sample(seed=key)[:, 0], carry
