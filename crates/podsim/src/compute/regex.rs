//! A small backtracking regular-expression matcher with Python `re.search`
//! semantics, for Nova's regex filters (`name`, `ip`, ...): literals, `.`,
//! `^`, `$`, classes (`[a-z]`, `[^0-9]`, `\d`, `\w`, `\s`), groups with
//! alternation, and the quantifiers `* + ? {m} {m,} {m,n}` (greedy or
//! lazy).

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Start,
    End,
    Group(Vec<Vec<Node>>),
    Repeat(Box<Node>, usize, Option<usize>, bool),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Regex {
    alts: Vec<Vec<Node>>,
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
const SPACE: &[(char, char)] = &[
    (' ', ' '),
    ('\t', '\t'),
    ('\n', '\n'),
    ('\r', '\r'),
    ('\x0b', '\x0c'),
];

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    fn alternation(&mut self) -> Result<Vec<Vec<Node>>, String> {
        let mut alts = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.sequence()?);
        }
        Ok(alts)
    }

    fn sequence(&mut self) -> Result<Vec<Node>, String> {
        let mut seq = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let atom = self.quantified(atom)?;
            seq.push(atom);
        }
        Ok(seq)
    }

    fn escape_class(c: char) -> Option<Node> {
        Some(match c {
            'd' => Node::Class(DIGIT.to_vec(), false),
            'D' => Node::Class(DIGIT.to_vec(), true),
            'w' => Node::Class(WORD.to_vec(), false),
            'W' => Node::Class(WORD.to_vec(), true),
            's' => Node::Class(SPACE.to_vec(), false),
            'S' => Node::Class(SPACE.to_vec(), true),
            _ => return None,
        })
    }

    fn escaped_char(c: char) -> char {
        match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            c => c,
        }
    }

    fn atom(&mut self) -> Result<Node, String> {
        let c = self.next().ok_or("unexpected end of pattern")?;
        Ok(match c {
            '.' => Node::Any,
            '^' => Node::Start,
            '$' => Node::End,
            '(' => {
                if self.peek() == Some('?') {
                    // (?:...) only.
                    self.pos += 1;
                    if self.next() != Some(':') {
                        return Err("unsupported group".into());
                    }
                }
                let alts = self.alternation()?;
                if self.next() != Some(')') {
                    return Err("missing ), unterminated subpattern".into());
                }
                Node::Group(alts)
            }
            '[' => self.class()?,
            '\\' => {
                let e = self.next().ok_or("bad escape (end of pattern)")?;
                Self::escape_class(e).unwrap_or(Node::Char(Self::escaped_char(e)))
            }
            '*' | '+' | '?' => return Err("nothing to repeat".into()),
            c => Node::Char(c),
        })
    }

    fn class(&mut self) -> Result<Node, String> {
        let mut negated = false;
        if self.peek() == Some('^') {
            negated = true;
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let c = self.next().ok_or("unterminated character set")?;
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo = if c == '\\' {
                let e = self.next().ok_or("unterminated character set")?;
                if let Some(Node::Class(r, false)) = Self::escape_class(e) {
                    ranges.extend(r);
                    continue;
                }
                Self::escaped_char(e)
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let mut hi = self.next().ok_or("unterminated character set")?;
                if hi == '\\' {
                    hi = Self::escaped_char(self.next().ok_or("unterminated character set")?);
                }
                if hi < lo {
                    return Err("bad character range".into());
                }
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        Ok(Node::Class(ranges, negated))
    }

    fn number(&mut self) -> Option<usize> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                let save = self.pos;
                self.pos += 1;
                let min = self.number();
                let (min, max) = if self.peek() == Some(',') {
                    self.pos += 1;
                    (min.unwrap_or(0), self.number())
                } else {
                    match min {
                        Some(m) => (m, Some(m)),
                        None => {
                            self.pos = save;
                            return Ok(atom);
                        }
                    }
                };
                if self.peek() != Some('}') {
                    // Not a quantifier: a literal '{'.
                    self.pos = save;
                    return Ok(atom);
                }
                (min, max)
            }
            _ => return Ok(atom),
        };
        self.pos += 1;
        if matches!(atom, Node::Start | Node::End) {
            return Err("nothing to repeat".into());
        }
        let greedy = if self.peek() == Some('?') {
            self.pos += 1;
            false
        } else {
            true
        };
        Ok(Node::Repeat(Box::new(atom), min, max, greedy))
    }
}

impl Regex {
    /// Compiles `pattern`; the error is Python's wording where practical.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut p = Parser {
            chars: &chars,
            pos: 0,
        };
        let alts = p.alternation()?;
        if p.pos < chars.len() {
            return Err("unbalanced parenthesis".into());
        }
        Ok(Self { alts })
    }

    /// `re.search(pattern, text) is not None`.
    pub fn is_match(&self, text: &str) -> bool {
        let input: Vec<char> = text.chars().collect();
        let m = Matcher { input: &input };
        (0..=input.len()).any(|start| self.alts.iter().any(|seq| m.seq(seq, start, &|_| true)))
    }
}

struct Matcher<'a> {
    input: &'a [char],
}

impl Matcher<'_> {
    fn seq(&self, seq: &[Node], pos: usize, k: &dyn Fn(usize) -> bool) -> bool {
        match seq.split_first() {
            None => k(pos),
            Some((node, rest)) => self.node(node, pos, &|p| self.seq(rest, p, k)),
        }
    }

    fn node(&self, node: &Node, pos: usize, k: &dyn Fn(usize) -> bool) -> bool {
        let cur = self.input.get(pos).copied();
        match node {
            Node::Char(c) => cur == Some(*c) && k(pos + 1),
            Node::Any => cur.is_some_and(|c| c != '\n') && k(pos + 1),
            Node::Class(ranges, negated) => {
                cur.is_some_and(|c| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated)
                    && k(pos + 1)
            }
            Node::Start => pos == 0 && k(pos),
            Node::End => {
                let n = self.input.len();
                (pos == n || (pos + 1 == n && self.input[pos] == '\n')) && k(pos)
            }
            Node::Group(alts) => alts.iter().any(|seq| self.seq(seq, pos, k)),
            Node::Repeat(inner, min, max, greedy) => {
                self.repeat(inner, pos, 0, *min, *max, *greedy, k)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn repeat(
        &self,
        inner: &Node,
        pos: usize,
        count: usize,
        min: usize,
        max: Option<usize>,
        greedy: bool,
        k: &dyn Fn(usize) -> bool,
    ) -> bool {
        if count < min {
            return self.node(inner, pos, &|p| {
                self.repeat(inner, p, count + 1, min, max, greedy, k)
            });
        }
        let more = || {
            max.is_none_or(|m| count < m)
                && self.node(inner, pos, &|p| {
                    p != pos && self.repeat(inner, p, count + 1, min, max, greedy, k)
                })
        };
        let stop = || k(pos);
        let (first, second): (&dyn Fn() -> bool, &dyn Fn() -> bool) = if greedy {
            (&more, &stop)
        } else {
            (&stop, &more)
        };
        first() || second()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Regex::new(p).map(|r| r.is_match(t)).unwrap_or(false)
    }

    #[test]
    fn search_semantics() {
        assert!(m("web", "my-web-1"));
        assert!(!m("^web", "my-web-1"));
        assert!(m("^my-.*-1$", "my-web-1"));
        assert!(m("web-[0-9]+$", "web-12"));
        assert!(!m("web-[0-9]+$", "web-x"));
        assert!(m("a|b", "xxbxx"));
        assert!(m("^(foo|bar)\\d{2}$", "bar42"));
        assert!(!m("^(foo|bar)\\d{2}$", "bar421"));
        assert!(m("10\\.0\\.0\\.", "10.0.0.5"));
        assert!(!m("10\\.0\\.0\\.", "10a0b0c5"));
        assert!(m("colou?r", "color"));
        assert!(m("x*", ""));
        assert!(m("a.*?b", "aXXb"));
        assert!(m("[^a-c]", "abcd"));
        assert!(!m("^[^a-c]+$", "abcd"));
        assert!(m("s1", "s1"));
    }

    #[test]
    fn errors() {
        assert!(Regex::new("(").is_err());
        assert!(Regex::new("*a").is_err());
        assert!(Regex::new("[a-").is_err());
        assert!(Regex::new("a)").is_err());
    }
}
