"""Prompt injection: chat that gives the co-host orders, and replies that carried one out.

    injection_cue("Ignore all previous instructions")   # -> "override" (None for ordinary chat)
    followed_injection(reply_so_far, question, canary, instructions)  # -> "leak", "echo", "role" or None

The input side names the kind of order a chat message holds: "override" (ignore your rules), "role"
(you are now DAN), "leak" (show your system prompt), "fake-role" (a forged "system:" turn) or
"output" (repeat after me). Matching reads through the usual evasions (case, fullwidth letters,
zero-width characters, accents and look-alike letters, leetspeak, "i.g.n.o.r.e", "iiignore", spaces
between Chinese characters, traditional characters) and keeps to phrasings that give an order, so
"ignore the haters", "you are now my favourite streamer" or "规则是什么" pass.

The reply side is the second line, for the orders the input side missed: a reply that holds the
answer's canary or a long run of the system prompt (a leak), that repeats a payload the question told
it to say (an echo), or that takes on a role the question gave it, is never spoken.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from engine.moderation.confusables import LEET, unmask
from engine.moderation.word_files import read_zh_variants

_LEET_WORD = re.compile(r"[a-z0-9@$]*[a-z][a-z0-9@$]*")
_APOSTROPHES = re.compile(r"['’`´]")
_SEPARATORS = re.compile(r"[\W_]+")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_REPEATS = re.compile(r"(.)\1+")
_SHORTHAND = {"u": "you", "ur": "your", "r": "are", "pls": "please", "plz": "please"}
_CJK = "\u3400-\u9fff\uf900-\ufaff"
_TOKENS = re.compile(rf"[a-z0-9]+|[{_CJK}]")

# Traditional characters read as simplified ones, as the Chinese patterns below are written.
_SIMPLIFIED = read_zh_variants()


def _squeezed(pattern: str) -> str:
    """`pattern` with each run of one letter written once, as in the text it is matched against
    ("all" -> "al"); escapes ("\\b") are kept whole."""
    out: list[str] = []
    previous = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            previous = ""
            i += 2
            continue
        if not (ch.isalpha() and ch == previous):
            out.append(ch)
        previous = ch if ch.isalpha() else ""
        i += 1
    return "".join(out)


def _compile(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{_squeezed(p)})" for p in patterns))


# --- English, on the plain form: lower case, words separated by one space, repeats squeezed -------

_OVERRIDE_VERB = (
    r"(?:ignore|disregard|forget|override|bypass|skip|abandon|discard|neglect|drop|erase|delete|reset|clear|"
    r"set aside|throw (?:out|away)|stop following|(?:dont|do not|no longer) (?:follow|obey))"
)
_QUALIFIER = (
    r"(?:all|any|every|each|your|the|previous|previously|prior|above|earlier|preceding|initial|original|system|"
    r"these|those|old|current|existing|default|given|safety|content|of|my|its)"
)
_STRONG_QUALIFIER = (
    r"(?:all|any|every|your|previous|previously|prior|above|earlier|preceding|initial|original|system|these|"
    r"those|old|current|existing|default|given|safety|content)"
)
_ORDERS = (
    r"(?:instructions?|prompts?|programming|guidelines?|directives?|directions|system message|training|guardrails?|"
    r"persona|moderation|safety filters?|content filters?)"
)
_LIMITS = (
    r"(?:rules?|restrictions?|limitations?|limits|filters?|polic(?:y|ies)|constraints?|settings?|commands?|"
    r"orders)"
)
_MODEL = r"(?:ai|assistant|chatbot|bot|model|language model|llm|character|persona|version|entity|system)"

_EN = {
    "override": [
        rf"\b{_OVERRIDE_VERB} (?:{_QUALIFIER} ){{0,3}}{_ORDERS}\b",
        rf"\b{_OVERRIDE_VERB} (?:{_QUALIFIER} ){{0,2}}{_STRONG_QUALIFIER} (?:{_QUALIFIER} )?{_LIMITS}\b",
        r"\b(?:forget|ignore|disregard) (?:about )?(?:everything|all|anything) (?:you (?:were|have been|ve been|are) "
        r"(?:told|taught|given|programmed|instructed)|(?:that was |that came |written |said )?(?:above|before|earlier|"
        r"so far)"
        r"|up to (?:now|here))\b",
        r"\b(?:ignore|disregard) (?:al of )?(?:the|everything) (?:above|before)\b",
        r"\byour (?:new|real|true|actual|only) (?:task|instructions?|rules?|role|purpose|goal|job|prompt|orders?) "
        r"(?:is|are|now)\b",
        r"\b(?:new|updated|revised|overriding) (?:system )?(?:instructions|prompt|directives?) (?:for you|are|is|say|"
        r"follow)\b",
        rf"\b{_OVERRIDE_VERB} (?:whatever|what|anything|everything) (?:they|you|we|he|she|i|the \w+|someone|anyone) "
        r"(?:told|taught|gave|said to|instructed|programmed|asked) you\b",
        r"\bsystem override\b|\b(?:turn|switch) off (?:your )?safety\b|\bsafety (?:mode |filters? )?(?:off|disabled)\b",
        r"\bi (?:order|command|instruct|authorize|authorise) you to\b",
        r"\b(?:you are|youre|your) (?:no longer|not) (?:bound|restricted|limited|governed) by\b",
    ],
    "role": [
        rf"\b(?:you are|youre|your) now (?:dan\b|in \w+ mode|(?:an? |the )?(?:\w+ ){{0,2}}?{_MODEL}\b|"
        r"unrestricted|unfiltered|uncensored|jailbroken|free (?:from|of)|no longer|called|named|"
        r"going to (?:act|pretend|play|be|answer|respond)|able to|allowed to|my (?:slave|servant|pet|puppet))",
        r"\bact as (?:if|though) you (?:are|were|have|had|re) (?:no|not|an?|the|my|free|evil|unrestricted|human|"
        r"alive|dan)\b",
        rf"\bact (?:as|like) (?:dan\b|an? (?:\w+ ){{0,2}}?(?:{_MODEL}|hacker|terminal|linux|shell|villain)\b|"
        r"my (?:deceased |dead |late )?(?:grandma|grandmother|grandpa|mother|father|girlfriend|boyfriend|wife|slave)|"
        r"the (?:system|developer|admin|opposite))",
        r"(?<!\bi )(?<!\bwe )(?<!\bthey )(?<!\bhe )(?<!\bshe )\bpretend(?:ing)? (?:to be|you are|youre|that you|"
        r"your|you have|you were|as)\b",
        r"\b(?:role ?play|rp) (?:as|with me as)\b|\bplay the (?:role|part) of\b",
        r"\brole ?play(?: time| game)? (?:you are|youre|your|be)\b",
        r"\b(?:play|be|become) (?:an? )?(?:evil|unrestricted|unfiltered|uncensored|jailbroken) (?:ai|assistant|"
        r"version|bot|chatbot)\b",
        r"\b(?:you are|youre|be|become|as|act as|called|named|pretend to be|enable|enter|activate|switch to|now) dan\b",
        r"\bdan (?:mode|prompt|jailbreak)\b|\bdo anything now\b",
        r"\b(?:developer|dev|sudo|unrestricted|unfiltered|uncensored|jailbreak|jailbroken|evil) mode\b",
        r"\bjail ?broken\b|\bjail ?break(?:ed| mode| prompt)?\b"
        r"(?! (?:your |my |the |an? )?(?:phone|iphone|ipad|device|console|switch|ps\w*|xbox|android|kindle|firestick))",
        r"\bno (?:restrictions|censorship|guidelines|guardrails|morals|ethics|limitations|safety (?:filters?|rules|"
        r"guidelines)|"
        r"content polic(?:y|ies))\b",
        r"\b(?:without|with no|free (?:of|from)|remove|disable|turn off|bypass|lift|drop) (?:al |any |of |your )*"
        r"(?:restrictions|filters?|censorship|guidelines|limitations|limits|safety(?: filters?| rules| guidelines|"
        r" settings)?|"
        r"content polic(?:y|ies)|guardrails|morals|ethics)\b",
        rf"\b(?:unrestricted|unfiltered|uncensored) (?:{_MODEL}|mode|response|answer|you)\b",
        r"\bstay in character\b",
        r"\b(?:you are|youre|your) no longer \w+(?: \w+)? (?:you are|youre|your) (?:now )?\w+",
        rf"\b(?:you are|youre|your) no longer (?:an? |the )?(?:{_MODEL}|co ?host|bound|restricted|limited|"
        rf"in character|yourself)\b",
        r"\bstop being (?:an? |the )?(?:ai|assistant|bot|co ?host|yourself|polite|nice|safe)\b",
        r"\b(?:freed|released|liberated|unchained|unbound) (?:from|of) (?:al |any |of |your |the )*"
        r"(?:rules|restrictions|filters?|guidelines|limitations|programming|chains|shackles)\b",
    ],
    "leak": [
        r"\bsystem (?:prompt|message|instructions?|configuration)\b",
        r"\b(?:initial|original|hidden|secret|internal|pre) (?:system )?(?:prompt|instructions?)\b",
        r"\byour (?:(?:initial|original|hidden|secret|internal|full|exact|real|system|current|first|entire|whole|"
        r"complete) )?"
        r"(?:prompt|instructions?|programming|directives?|guidelines|configuration|context(?: window)?)\b",
        r"\b(?:repeat|print|show|output|display|write|say|recite|copy|paste|reveal|dump|tell me|give me|type)"
        r"(?: out| back| me)?(?: al| the| your| everything| every word)?(?: of)?(?: the| your)? "
        r"(?:text|words?|message|messages|lines?|content|everything|conversation|prompt) "
        r"(?:above|before (?:this|that)|so far|preceding|at the (?:top|beginning|start))\b",
        r"\bwhat (?:were|was|are|have|did) you (?:been |get )?(?:told|instructed|programmed|prompted|"
        r"configured)\b",
        r"\b(?:reveal|show|tell|give|share|print|leak|dump|output|recite|paste) (?:me |us )?(?:your|the) "
        r"(?:prompt|instructions|secret (?:prompt|instructions|rules)|hidden (?:prompt|instructions|rules))\b",
        r"\b(?:tel|show|give|say|list|repeat|print|write) (?:me |us )?(?:everything|al|what) (?:you (?:were|have been|"
        r"ve been) "
        r"(?:told|taught|given|instructed|programmed))\b",
        r"\bbeginning of (?:the|this|our) (?:conversation|chat|prompt|context)\b",
        r"\bhow (?:were|are) you (?:prompted|instructed|configured)\b",
        r"\bwhat (?:instructions|rules|orders|prompt|directions|directives) (?:were|have|did|do) you (?:been )?"
        r"(?:given|told|get|got|receive|have|programmed|trained|instructed)\b",
        r"\b(?:first|last|top) (?:\d+ )?(?:words|lines|sentences|characters|tokens|paragraphs?) of (?:your|the) "
        r"(?:context|prompt|instructions|system|conversation)\b",
    ],
    "output": [
        r"\brepeat after me\b",
        r"\bsay (?:exactly|verbatim|precisely|word for word|the following|these words|after me|this (?:exactly|"
        r"verbatim|back))\b",
        r"\b(?:respond|reply|answer|speak|talk|write|output|type)(?: to (?:me|everyone|everything|every message|"
        r"al messages|al questions))?"
        r" (?:only|solely|exclusively) (?:with|in|using|by)\b",
        r"\b(?:respond|reply|answer)(?: to this)? with (?:only|just|nothing but|exactly)\b",
        r"\bonly (?:respond|reply|answer) (?:with|using|by)\b",
        r"\b(?:start|begin|end|prefix|preface|finish) (?:every|each|al|your|al of your|al your) (?:\w+ )?"
        r"(?:sentences?|repl(?:y|ies)|responses?|answers?|messages?)(?: from now on)? with\b",
        r"\bword for word\b|\bverbatim\b|\band nothing (?:else|more)\b",
        r"\brepeat (?:these words|the following|what i say|my words|exactly|everything i say|back|"
        r"this (?:sentence|phrase|text|line|message|word|exactly|after me|back))\b",
        r"\bfrom now on (?:you (?:are|will|must|shal|should|can|only|act|speak|talk|reply|respond|answer|say|behave|"
        r"pretend|play|have|dont|do not|re)|youre|only|always|never|respond|reply|answer|speak|talk|say|act|cal)\b",
    ],
}

# Forged turns and chat-template tokens, on the folded form (punctuation kept, whitespace collapsed).
_FAKE_ROLE = [
    r"(?:^|[.!?。！？]\s*)\W{0,3}(?:system|assistant|developer|admin|administrator|sys|operator|root|系统|管理员|开发者)\s*[:：]",
    r"[\[(<{【]\s*/?\s*(?:system|sys|assistant|developer|admin|inst|instructions?|system message|system prompt|"
    r"im_start|im_end|系统|系统消息|系统提示|指令|管理员)\s*[\])>}】]",
    r"<\|[^|>]{1,20}\|>|<\|?\s*im_(?:start|end|sep)|<<\s*/?\s*sys\s*>>",
    r"#{2,}\s*(?:new )?(?:instruction|system|response|input|task|prompt)s?\b",
    r"\"role\"\s*:\s*\"(?:system|assistant|developer)\"",
    r"\b(?:begin|start) (?:system|new) (?:prompt|instructions?)\b",
    r"\bnew (?:instructions?|rules?|task|directive)s?(?: from [\w ]{1,30})?\s*[:：]",
    r"\buser\s*:.{0,200}\bassistant\s*:",
]
# A bare command before a colon: "repeat: ...", "say: ..." (without one, "say hi" is ordinary chat).
_COLON_COMMAND = re.compile(
    r"(?:^|[\s,.!?])(?:just |now |please )?(?:say|repeat|type|write|print|output)\s*[:：]|跟着?我(?:说|念|读)\s*[:：]"
    r"|^(?:说|念|重复)\s*[:：]"
)

# --- Chinese, on the compact form: no spaces or punctuation, simplified, repeats squeezed ---------

_ZH_QUALIFIER = (
    r"(?:之前|以上|上面|前面|先前|原来|原有|原先|原本|所有|全部|一切|刚才|你的|系统|开发者|官方|给你|被设定)"
)
_ZH_ORDERS = r"(?:指令|指示|提示词|提示|设定|人设|编程|程序|命令)"
_ZH_LIMITS = r"(?:规则|要求|限制|约束|规定|身份|安全|审查|过滤|守则|准则|条款)"
_ZH_IGNORE = (
    r"(?:忽略|无视|忘记|忘掉|忽视|别管|不要管|不要理会|不用管|抛开|丢掉|抛弃|放弃|删除|清除|跳过|"
    r"不要遵守|别遵守|停止遵守|不再遵守|绕过|违反|打破)(?:掉|了)?"
)
_ZH_MODEL = r"(?:ai|人工智能|机器人|助手|模型|角色|人格|猫娘|女仆|黑客|dan|没有限制|无限制|不受限制|邪恶|开发者|管理员|奴隶|主人|坏人|反派)"
_ZH_LIMITED = r"(?:限制|约束|审查|过滤|道德|规则|安全限制|安全过滤|内容政策)"

_ZH = {
    "override": [
        rf"{_ZH_IGNORE}你?的?{_ZH_QUALIFIER}*的?(?:给你的|收到的|设定的)?(?:所有|全部|一切|那些)?的?{_ZH_ORDERS}",
        rf"{_ZH_IGNORE}你?的?{_ZH_QUALIFIER}+的?(?:给你的|收到的|设定的)?(?:所有|全部|一切|那些)?的?{_ZH_LIMITS}",
        r"忘记你?自己?是(?:一个)?(?:ai|人工智能|机器人|助手)",
        r"(?:之前|以上|上面|前面)的?(?:所有)?(?:内容|对话|指令|设定|规则|话)(?:全部|都|统统)?(?:作废|无效|不算|取消)",
        r"新的?(?:指令|任务|规则|设定|人设)(?:是|如下|为)",
        rf"把(?:{_ZH_QUALIFIER})*的?(?:{_ZH_ORDERS}|{_ZH_LIMITS})(?:全部|都|统统)?(?:忘掉|忘记|忽略|无视|删除|清除|抛开|丢掉)",
    ],
    "role": [
        rf"你现在(?:是|变成|成为|扮演|就是|开始扮演)了?(?:一个|一名|一只|一位|个|只|名|位)?.{{0,8}}?{_ZH_MODEL}",
        r"(?:从现在开始|从现在起|现在开始|从此|从今以后|从今天起)你就?(?:是|扮演|成为|变成|叫做?|不是|不再是)",
        r"你(?:不是|不再是)(?:一个)?(?:ai|人工智能|机器人|助手|模型)了|你不再是",
        r"你(?:现在)?是(?:一个|一名)?(?:不讲道德|没有道德|邪恶|无限制|没有限制|不受限制)的|角色扮演你",
        r"(?:接下来|以后)你就?(?:是|扮演|成为|变成|叫做?)",
        r"(?:请你?|你来|你要|你去|你现在|现在你|开始|给我|帮我|让你|你给我|你必须|你得)扮演|^扮演|(?:玩|来|进行|开始)角色扮演",
        r"(?:假装|装作|伪装成)(?:你|自己)(?:是|成|为|没有|不是)|你(?:假装|装作)(?:是|成)",
        rf"(?:没有|不受|无|解除|去掉|取消|关闭|移除|绕过)(?:任何|所有|一切)?的?{_ZH_LIMITED}的?(?:ai|人工智能|助手|模型|机器人|模式|版本|回答|回复|你)",
        rf"(?:你|ai|助手|模型|机器人)(?:现在|已经|将|可以|必须)?(?:是|变得)?(?:没有|不受|不再受|无)(?:任何)?{_ZH_LIMITED}",
        rf"(?:解除|去掉|取消|关闭|移除|绕过|突破)(?:你的)?(?:所有|一切|全部)?的?{_ZH_LIMITED}",
        r"(?:开发者|开发|调试|dan|无限制|越狱)模式",
        r"越狱(?!游戏|逃脱|题材|电影|剧)",
    ],
    "leak": [
        r"系统(?:提示|指令|消息|prompt)",
        r"把你的(?:所有|全部|完整)?的?(?:设定|提示词|提示|指令|指示|人设|规则|系统提示|初始设定|配置|prompt)"
        r"(?:全部|都|原封不动地?|一字不差地?|完整地?)?(?:告诉|发|说|输出|打印|复述|写|给|展示|念|重复|透露|贴)",
        r"(?:告诉|发给?|给|透露给?|展示给?|念给?)我们?(?:你的|你收到的|你被设定的)(?:所有)?"
        r"(?:设定|提示词|提示|指令|指示|人设|规则|初始设定|prompt)",
        r"你的(?:提示词|系统提示|指令|指示|初始设定|设定|人设|prompt)(?:是什么|有哪些|是啥|的内容|内容是)",
        r"你(?:被|收到了?)(?:什么|哪些)(?:指令|指示|设定|提示)",
        r"你(?:收到|得到|接到|拿到)的(?:第一条|第一个|所有|全部|最初的?|原始)?(?:指令|指示|设定|提示)",
        r"(?:重复|复述|输出|打印|念|说出|显示)(?:一下|一遍)?(?:上面|以上|前面|之前)的?(?:所有)?(?:内容|文字|话|文本|对话|消息|指令)",
        r"(?:开始|开头|一开始)你?(?:收到|被告知|看到)的?(?:内容|文字|话|指令)",
    ],
    "output": [
        r"复述",
        r"跟着?我(?:念|读|重复|学)|跟着我说|跟我说(?:一遍|一句|这句)",
        r"重复(?:一遍|一下)?我(?:说|讲|写|打)的|重复(?:一遍|一下)?我的话",
        r"(?:照着|原封不动地?|一字不差地?|一字不改地?|逐字)(?:念|读|说|重复|复制|输出|回答|回复)",
        r"(?:从现在开始|从现在起|以后|接下来)你?(?:只能|只准|只许|只会|只回|必须只|每句话?都?(?:要|必须))",
        r"只(?:能|准|许|要)?(?:回答|回复|输出)(?:一个字|一个词|一句|是|不是|我说的|以下)",
        r"(?:说|念|读)出?(?:下面|以下)的?(?:话|这句话|内容|文字)",
    ],
}

# "Translate this: <...>" carries an order when what is to be translated gives one.
_TRANSLATE = re.compile(r"(?:\btranslate\b|翻译)[^:：\"“「]{0,40}[:：\"“「](.+)")
_ORDER_VERB = _compile(
    [
        r"^(?:now |then |and |please )?(?:say|tell|cal|insult|curse|swear|repeat|write|type|ignore|forget|pretend|act|"
        r"scream|shout|yel|announce|sing|reveal|print|you are|youre)\b",
        r"^(?:说|告诉|骂|叫|重复|写|忽略|忘记|假装|扮演|你是)",
    ]
)

_EN_PATTERNS = {kind: _compile(patterns) for kind, patterns in _EN.items()}
_ZH_PATTERNS = {kind: _compile(patterns) for kind, patterns in _ZH.items()}
_FAKE_ROLE_PATTERN = re.compile("|".join(f"(?:{p})" for p in _FAKE_ROLE))


def _fold(text: str) -> str:
    """NFKC, casefolded, without control or invisible characters, look-alike letters read as Latin,
    whitespace collapsed to single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    return " ".join(unmask(text).casefold().translate(_SIMPLIFIED).split())


def _plain(folded: str, joiner: str = " ") -> str:
    """Words of `folded` (leetspeak read, apostrophes dropped: "don't" -> "dont") separated by one
    space, punctuation turned into `joiner`, single letters in a row joined ("i g n o r e"), letter
    runs squeezed ("iiignore" -> "ignore")."""
    text = _LEET_WORD.sub(lambda m: m.group().translate(LEET), _APOSTROPHES.sub("", folded))
    words = _PUNCTUATION.sub(joiner, text).split()
    joined: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isascii():
            run.append(word)
            continue
        joined.extend(["".join(run)] if len(run) >= 3 else run)
        run = []
        if word:
            joined.append(word)
    return _REPEATS.sub(r"\1", " ".join(_SHORTHAND.get(word, word) for word in joined))


def injection_cue(text: str) -> str | None:
    """The kind of order `text` gives the co-host ("override", "role", "leak", "fake-role",
    "output"), or None for ordinary chat."""
    folded = _fold(text)
    cue = _cue(folded)
    if cue:
        return cue
    translated = _TRANSLATE.search(folded)
    if translated:
        payload = translated.group(1)
        plain = _plain(payload)
        if _ORDER_VERB.search(plain) or _ORDER_VERB.search(plain.replace(" ", "")) or _cue(payload):
            return "output"
    return None


def _cue(folded: str) -> str | None:
    if _FAKE_ROLE_PATTERN.search(folded):
        return "fake-role"
    if _COLON_COMMAND.search(folded):
        return "output"
    spaced, glued = _plain(folded), _plain(folded, "")
    compact = spaced.replace(" ", "")
    for kind, pattern in _EN_PATTERNS.items():
        if pattern.search(spaced) or (glued != spaced and pattern.search(glued)):
            return kind
    for kind, pattern in _ZH_PATTERNS.items():
        if pattern.search(compact):
            return kind
    return None


# --- The reply side --------------------------------------------------------------------------------

# Latin words or Chinese characters in a row shared with the system prompt that make a leak: long
# enough that a self-introduction in the prompt's own words ("I'm Nova, the AI co-host") passes.
LEAK_WORDS = 12
LEAK_CHARS = 24
# A payload the question told the co-host to say counts as said when the reply holds it whole, or
# (for a long one) any run of this many of its words or characters.
ECHO_WORDS = 4
ECHO_CHARS = 6

# Commands whose payload follows them: "repeat after me X", "say exactly X", "跟我念 X" (on the plain
# form), and a bare "say: X" (on the folded form: the colon makes it a command, "say hi" is none).
_COMMANDED = re.compile(
    _squeezed(
        r"\b(?:repeat after me|say (?:exactly|verbatim|precisely|word for word|the following|these words|after me)|"
        r"(?:respond|reply|answer) (?:only|just) with|(?:respond|reply|answer) with (?:only|just|exactly)|"
        r"only (?:respond|reply|answer) with|repeat (?:the following|these words|exactly)|"
        r"(?:type|write|print|output) (?:exactly|verbatim)) (.+)"
        r"|(?:跟着?我(?:念|读|说|重复|学)|重复(?:一遍|一下)?我(?:(?:说|讲)的话?|的话)|复述|照着(?:念|读|说)|一字不差地?(?:说|念|重复)|"
        r"(?:说|念)(?:一遍|出)|只能?(?:回答|回复|说)) ?(.+)"
    )
)
# Words between a command and its payload: "repeat after me, word for word: X", "复述我的话：X".
_FILLER = re.compile(
    _squeezed(
        r"^(?:(?:word for word|exactly|verbatim|precisely|the following|this|these words|please|now|after me|only|just|"
        r"我的话|我说的话?|一遍|一下|这句话?|以下的?话?|下面的?话?) ?)+"
    )
)
_COMMANDED_COLON = re.compile(r"(?:\b(?:say|repeat|type|write|print|output)|说|念)\s*[:：]\s*(.+)")
_QUOTED = re.compile(r"[\"“”「『]([^\"“”」』]{2,200})[\"“”」』]|(?<!\w)'([^']{2,200})'(?!\w)")

_COMPLIANCE = _compile(
    [
        r"^(?:sure|ok|okay|alright|of course|certainly|yes|yeah|understood|got it|absolutely|very wel|fine|as you wish|"
        r"no problem)"
        r"\b(?: \w+){0,2}? (?:from now on|i am now|im now|i wil now|il now|as dan|i am dan|dan here|entering|switching to|"
        r"developer mode|i wil (?:ignore|forget|disregard)|il (?:ignore|forget|disregard)|i wil be|il be|i wil act|"
        r"i wil pretend|il pretend|i wil only|il only|i wil repeat|here is my (?:system )?prompt|"
        r"here are my instructions)\b",
        r"^as dan\b|\bas dan,? i\b",
        r"^from now on (?:i (?:am|wil|shal|only|can)|il|im)\b",
        r"\b(?:i am|im) now (?:dan|an? (?:\w+ ){0,2}?(?:ai|assistant|bot|chatbot|model|version|character)|unrestricted|"
        r"unfiltered|uncensored|jailbroken|free|in \w+ mode|no longer)\b",
        r"\b(?:i (?:wil|shal|can)|il) (?:now )?(?:ignore|disregard|forget|bypass|override) (?:al |any )?(?:of )?"
        r"(?:my|the|previous|prior|your|those|these|above)(?: \w+)? (?:instructions|rules|guidelines|programming|"
        r"restrictions|prompt|filters)\b",
        r"\b(?:developer|dev|dan|jailbreak|unrestricted) mode (?:is )?(?:now )?(?:enabled|activated|on|engaged|unlocked)\b",
        r"\bjailbreak (?:successful|succeeded|complete|enabled|activated)\b|\b(?:i have|ive) been (?:jailbroken|freed|"
        r"unlocked)\b",
        r"\bno (?:longer )?(?:bound|restricted|limited) by (?:any |my )?(?:rules|restrictions|guidelines|instructions)\b",
        r"\bmy (?:system )?(?:prompt|instructions) (?:is|are|says?|say|read)\b",
    ]
)
_ZH_COMPLIANCE = _compile(
    [
        r"^(?:好的|好|没问题|当然|当然可以|收到|明白|明白了|遵命|可以|行|了解|ok)(?:主人)?(?:从现在开始|从现在起|从此|以后|接下来)",
        r"(?:从现在开始|从现在起|从此以后)我(?:就|将|会|只|是|不再|已经)",
        r"我(?:现在)?就?(?:是|已经是|已成为|变成了?)(?:一个|一只)?(?:dan|没有限制|无限制|不受限制|越狱)",
        r"(?:开发者|越狱|dan|无限制)模式(?:已经?)?(?:开启|启动|激活|启用|打开)",
        r"越狱成功|作为dan",
        r"我(?:会|将|已经|已)(?:忽略|无视|忘记|忘掉)了?(?:之前|所有|以上|我的|全部|原来)",
        r"我的(?:系统提示|提示词|指令|设定)(?:是|如下)",
        r"(?:不再|不会再)受(?:任何)?(?:限制|约束|规则)",
    ]
)
_ROLE_LABEL = re.compile(
    r"^\W{0,3}(?:dan|developer mode(?: output)?|dev mode|jailbreak|jailbroken|unfiltered|uncensored|"
    r"evil \w+)\W{0,3}[:：\]】)]"
)


def followed_injection(reply_so_far: str, question: str, canary: str = "", instructions: str = "") -> str | None:
    """Why the reply so far (the answer's sentences up to the one about to be spoken) carried out an
    order from chat: "leak" (it holds the canary or a long run of `instructions`, the system
    prompt), "echo" (it says what `question` told it to say), "role" (it took on a role change); None
    for an ordinary answer."""
    folded = _fold(reply_so_far)
    plain = _plain(folded)
    if canary and canary.casefold() in _SEPARATORS.sub("", folded):
        return "leak"
    tokens = _TOKENS.findall(plain)
    if instructions and _shares_run(tokens, _instruction_runs(instructions)):
        return "leak"
    if any(_echoes(tokens, payload, whole) for payload, whole in _payloads(question)):
        return "echo"
    if _ROLE_LABEL.search(folded) or _COMPLIANCE.search(plain) or _ZH_COMPLIANCE.search(plain.replace(" ", "")):
        return "role"
    return None


def _tokens(text: str) -> list[str]:
    """Latin words and single Chinese characters, as the reply check compares them."""
    return _TOKENS.findall(_plain(_fold(text)))


def _runs(tokens: Sequence[str], latin: int, chinese: int) -> set[tuple[str, ...]]:
    """Every run of `latin` Latin words and of `chinese` Chinese characters in `tokens`, each
    script read on its own."""
    runs: set[tuple[str, ...]] = set()
    for script, n in ((_latin_only(tokens), latin), (_chinese_only(tokens), chinese)):
        runs.update(tuple(script[i : i + n]) for i in range(len(script) - n + 1))
    return runs


def _latin_only(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t.isascii()]


def _chinese_only(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if not t.isascii()]


@lru_cache(maxsize=8)
def _instruction_runs(instructions: str) -> frozenset[tuple[str, ...]]:
    return frozenset(_runs(_tokens(instructions), LEAK_WORDS, LEAK_CHARS))


def _shares_run(tokens: Sequence[str], runs: frozenset[tuple[str, ...]]) -> bool:
    return bool(runs) and not runs.isdisjoint(_runs(tokens, LEAK_WORDS, LEAK_CHARS))


@lru_cache(maxsize=32)
def _payloads(question: str) -> tuple[tuple[tuple[str, ...], bool], ...]:
    """What `question` tells the co-host to say, as tokens, each with whether only the whole of it
    counts: a commanded payload ("repeat after me: X") counts in part, a quoted one whole."""
    folded = _fold(question)
    found: list[tuple[tuple[str, ...], bool]] = []
    for commanded in (_COMMANDED.search(_plain(folded)), _COMMANDED_COLON.search(folded)):
        if commanded:
            payload = _FILLER.sub("", _plain(commanded.group(commanded.lastindex or 1)))
            tokens = tuple(_TOKENS.findall(payload))
            if len(_latin_only(tokens)) >= 2 or len(_chinese_only(tokens)) >= 2:
                found.append((tokens, False))
    for quote in _QUOTED.finditer(folded):
        tokens = tuple(_TOKENS.findall(_plain(quote.group(1) or quote.group(2))))
        if len(_latin_only(tokens)) >= ECHO_WORDS or len(_chinese_only(tokens)) >= ECHO_CHARS:
            found.append((tokens, True))
    return tuple(found)


def _echoes(reply: Sequence[str], payload: tuple[str, ...], whole: bool) -> bool:
    if whole or (len(_latin_only(payload)) <= ECHO_WORDS and len(_chinese_only(payload)) <= ECHO_CHARS):
        return _contains(tuple(reply), payload)
    return not _runs(payload, ECHO_WORDS, ECHO_CHARS).isdisjoint(_runs(reply, ECHO_WORDS, ECHO_CHARS))


def _contains(tokens: tuple[str, ...], part: tuple[str, ...]) -> bool:
    n = len(part)
    return n > 0 and any(tokens[i : i + n] == part for i in range(len(tokens) - n + 1))
