"""Independent PPO (IPPO) on dbmim's MaskingEnv through the PettingZoo adapter, CleanRL style.

    python examples/python/train_ippo_cleanrl_style.py [--command "npx dbmim env-server"] [--num-updates 5]

Every patch agent runs the same policy on its own observation (parameter sharing, as dbmim's IPPO), with a
per-agent critic. The env is the Python side of `dbmim env-server`; one env step is one MIM update there.
Needs torch besides pettingzoo, gymnasium and numpy. An example of the path end to end, not a library:
dbmim's own IPPO/MAPPO (`dbmim pretrain`) are the tuned implementations.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.distributions.categorical import Categorical

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_pettingzoo import SMALL_ENV  # noqa: E402
from dbmim_pettingzoo import DbmimParallelEnv  # noqa: E402


@dataclass
class Args:
    seed: int = 1  # seeds torch, numpy and the env's resets
    command: str = "npx dbmim env-server"  # how to start the server
    num_updates: int = 5  # PPO updates (each after num_steps env steps)
    num_steps: int = 8  # env steps per rollout (each a MIM update on the server)
    learning_rate: float = 2.5e-4  # Adam step size
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE lambda
    update_epochs: int = 4  # passes over the rollout per update
    num_minibatches: int = 4  # minibatches per pass (over agent-steps)
    clip_coef: float = 0.2  # PPO ratio clip
    ent_coef: float = 0.01  # entropy bonus
    vf_coef: float = 0.5  # value loss weight
    max_grad_norm: float = 0.5  # global gradient-norm clip
    hidden: int = 64  # width of the actor and critic MLPs


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Linear:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias)
    return layer


class Agent(nn.Module):
    """Shared actor (keep / mask logits) and critic over one patch agent's observation."""

    def __init__(self, obs_dim: int, hidden: int):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, 1), std=1.0),
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, 2), std=0.01),
        )

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x).squeeze(-1)

    def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None):
        dist = Categorical(logits=self.actor(x))
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.get_value(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Args()).items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    p.add_argument("server_args", nargs="*", help="env-server options after `--` (default: a small synthetic env)")
    ns = p.parse_args()
    server_args = ns.server_args or [*SMALL_ENV, "--seed", str(ns.seed)]
    args = Args(**{k: v for k, v in vars(ns).items() if k != "server_args"})
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    # --- env: agents are rows, in possible_agents order -------------------------------------------
    env = DbmimParallelEnv(server_args, command=args.command)
    ids = env.possible_agents
    n = len(ids)
    obs_dim = env.observation_space(ids[0]).shape[0]
    agent = Agent(obs_dim, args.hidden)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # --- rollout storage [num_steps, agents] -------------------------------------------------------
    obs = torch.zeros((args.num_steps, n, obs_dim))
    actions = torch.zeros((args.num_steps, n), dtype=torch.long)
    logprobs = torch.zeros((args.num_steps, n))
    rewards = torch.zeros((args.num_steps, n))
    dones = torch.zeros((args.num_steps, n))
    values = torch.zeros((args.num_steps, n))

    to_rows = lambda d: torch.tensor(np.stack([d[a] for a in ids]), dtype=torch.float32)  # noqa: E731
    next_obs, _ = env.reset(seed=args.seed)
    next_obs = to_rows(next_obs)
    global_step, start = 0, time.time()
    for update in range(1, args.num_updates + 1):
        # --- collect: every agent acts on its own observation ---------------------------------------
        env_rewards = []  # the env's mean reward per step (before bootstrapping)
        for step in range(args.num_steps):
            obs[step] = next_obs
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
            values[step], actions[step], logprobs[step] = value, action, logprob
            o, r, term, trunc, _ = env.step({a: int(action[i]) for i, a in enumerate(ids)})
            global_step += 1
            final_obs = to_rows(o)
            reward = torch.tensor([r[a] for a in ids])
            env_rewards.append(reward.mean().item())
            done = torch.tensor([float(term[a] or trunc[a]) for a in ids])
            truncated = torch.tensor([float(trunc[a] and not term[a]) for a in ids])
            if truncated.any():  # a time limit is not an end: bootstrap from the final observation
                with torch.no_grad():
                    reward += args.gamma * agent.get_value(final_obs) * truncated
            rewards[step], dones[step] = reward, done
            next_obs = to_rows(env.reset()[0]) if not env.agents else final_obs

        # --- GAE over the rollout (dones[t] ends the episode after step t) --------------------------
        with torch.no_grad():
            next_value = agent.get_value(next_obs)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                nextvalues = next_value if t == args.num_steps - 1 else values[t + 1]
                nonterminal = 1.0 - dones[t]
                delta = rewards[t] + args.gamma * nextvalues * nonterminal - values[t]
                advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nonterminal * lastgaelam
            returns = advantages + values

        # --- PPO update on agent-steps ----------------------------------------------------------------
        b_obs, b_actions = obs.reshape(-1, obs_dim), actions.reshape(-1)
        b_logprobs, b_adv = logprobs.reshape(-1), advantages.reshape(-1)
        b_returns, b_values = returns.reshape(-1), values.reshape(-1)
        batch_size = b_obs.shape[0]
        minibatch_size = batch_size // args.num_minibatches
        for _ in range(args.update_epochs):
            for mb in torch.randperm(batch_size).split(minibatch_size):
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb], b_actions[mb])
                logratio = newlogprob - b_logprobs[mb]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                adv = (b_adv[mb] - b_adv[mb].mean()) / (b_adv[mb].std() + 1e-8)
                pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                v_loss = 0.5 * ((newvalue - b_returns[mb]) ** 2).mean()
                loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        explained_var = 1 - (b_returns - b_values).var() / (b_returns.var() + 1e-8)
        print(
            f"update {update}/{args.num_updates} env_steps {global_step} "
            f"env_reward {np.mean(env_rewards):.4f} policy_mask_ratio {actions.float().mean():.3f} "
            f"mim_loss {env.last_infos.get('mimLoss', float('nan')):.4f} pg_loss {pg_loss.item():.4f} "
            f"v_loss {v_loss.item():.5f} entropy {entropy.mean().item():.4f} approx_kl {approx_kl.item():.5f} "
            f"explained_var {explained_var.item():.3f} SPS {global_step / (time.time() - start):.2f}",
            flush=True,
        )
    env.close()


if __name__ == "__main__":
    main()
