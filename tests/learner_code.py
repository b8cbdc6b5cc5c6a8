"""Learner code shared by the grading tests: a correct answer to notebook 00's discounted_returns exercise,
written as a learner would (no library call), and the check cell that grades it."""

NB = "00_welcome"

CORRECT = '''\
def my_returns(rewards, gamma, dones=None):
    out, g = [0.0] * len(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        if dones is not None and dones[t]:
            g = 0.0
        g = rewards[t] + gamma * g
        out[t] = g
    return out
'''
CHECK = 'from course_lib.exercises import check\ncheck("discounted_returns", my_returns)'
